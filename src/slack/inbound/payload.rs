//! The bodies of the three kinds of request Slack sends lucid, read into the few facts
//! lucid acts on:
//!
//! - the Events API (JSON): `url_verification` when the app's request URL is set, and
//!   `event_callback` carrying an `app_mention` or a `message`;
//! - interactive components (form-encoded, one `payload` field of JSON):
//!   `block_actions`, a click on a button of lucid's own messages;
//! - slash commands (form-encoded fields): `/lucid <text>`.
//!
//! Only the fields lucid needs are read, with lucid's own small serde structs rather
//! than slack-morphism's models: those fall back to an opaque `Unknown` event when a
//! known event does not match their shape, so a malformed `app_mention` would pass
//! unnoticed instead of naming its missing field, and they fail a whole request on any
//! block or field they model more strictly than Slack sends it. Everything else in
//! Slack's payloads is left alone, so a field Slack adds or drops elsewhere changes
//! nothing here.
//!
//! Each request that can start or change work has a dedupe key
//! ([`SlackRequest::dedupe_key`]): Slack's `event_id` for events (a retried event keeps
//! it), and the `trigger_id` for a button click or a slash command (Slack makes one per
//! user action, and neither is retried with the same body otherwise).

use crate::chat::PayloadError;
use crate::core::ids::DeliveryId;
use crate::core::trigger::ThreadRef;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::borrow::Cow;

/// What a request from Slack means to lucid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlackRequest {
    /// Slack checking the Events API request URL: answer with the `challenge`.
    UrlVerification { challenge: String },
    /// An `app_mention`, or a `message` (a reply in a thread, a DM, ...).
    Message(SlackMessage),
    /// A click on a button of one of lucid's messages.
    Action(SlackAction),
    /// A slash command, `/lucid <text>`.
    Command(SlackCommand),
    /// Anything else (another event type, an edited or deleted message, a modal, an
    /// `ssl_check`, ...): answered 2xx and otherwise ignored.
    Ignored { reason: String },
}

impl SlackRequest {
    /// The key that makes a retried request a no-op: `event_id` for a message,
    /// `trigger_id` for an action or a command, none for the rest (which start
    /// nothing).
    pub fn dedupe_key(&self) -> Option<DeliveryId> {
        let key = match self {
            SlackRequest::Message(message) => return Some(message.event_id.clone()),
            SlackRequest::Action(action) => &action.trigger_id,
            SlackRequest::Command(command) => &command.trigger_id,
            SlackRequest::UrlVerification { .. } | SlackRequest::Ignored { .. } => return None,
        };
        // Checked when the request was parsed.
        DeliveryId::parse(key).ok()
    }
}

/// Which event a [`SlackMessage`] came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    /// `app_mention`: Slack says the message mentions the bot.
    AppMention,
    /// `message`: any message in a conversation the bot is in. When the app subscribes
    /// to both, a message that mentions the bot comes twice, as an `app_mention` and
    /// as a `message` (with different `event_id`s): act on the `app_mention`.
    Message,
}

/// A message posted in Slack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlackMessage {
    pub kind: MessageKind,
    /// The Events API's `event_id`, the dedupe key: a retried event keeps it.
    pub event_id: DeliveryId,
    /// The workspace of the app installation the event was sent for (`team_id`).
    pub team: String,
    pub channel: String,
    /// Who wrote it; `None` for a `bot_message`.
    pub user: Option<String>,
    /// Set when an app or integration posted it, lucid itself included.
    pub bot_id: Option<String>,
    /// Slack's markup as sent: `<@U123>` mentions, `<url|label>` links, `&amp;`.
    pub text: String,
    pub ts: String,
    /// The thread's root when the message is in a thread (the root's own `ts` when it
    /// is the root).
    pub thread_ts: Option<String>,
    /// An `app_mention`, or a `message` whose text mentions `bot_user_id`.
    pub is_mention: bool,
    /// `None` for a plain message; else `bot_message`, `thread_broadcast`, `file_share`
    /// or `me_message` (other subtypes are [`SlackRequest::Ignored`]).
    pub subtype: Option<String>,
    /// The bot user the event was sent to (from the payload's `authorizations`): the
    /// id to take out of the text with [`super::task_text`].
    pub bot_user_id: Option<String>,
}

impl SlackMessage {
    /// The `ts` of the thread's first message: the thread this message starts, or the
    /// one it replies in.
    pub fn thread_root(&self) -> &str {
        self.thread_ts.as_deref().unwrap_or(&self.ts)
    }

    /// Whether the message is a reply in a thread (not the thread's root, nor a
    /// message outside any thread).
    pub fn is_reply(&self) -> bool {
        self.thread_ts
            .as_deref()
            .is_some_and(|root| root != self.ts)
    }

    /// Whether an app or integration posted it, lucid itself included. Bots never
    /// trigger lucid.
    pub fn is_from_bot(&self) -> bool {
        self.bot_id.is_some()
            || self.subtype.as_deref() == Some("bot_message")
            || (self.user.is_some() && self.user == self.bot_user_id)
    }

    /// The conversation a session started from this message answers in: its thread.
    pub fn thread(&self) -> ThreadRef {
        ThreadRef::Slack {
            team: self.team.clone(),
            channel: self.channel.clone(),
            thread_ts: self.thread_root().to_owned(),
        }
    }
}

/// A click on a button (`block_actions`), on a message in a channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlackAction {
    pub team: String,
    pub channel: String,
    /// Who clicked.
    pub user: String,
    /// The element's `action_id`, e.g. `stop`.
    pub action_id: String,
    /// The element's `value`, e.g. a session id; empty when it has none.
    pub value: String,
    /// The `ts` of the message the button is on.
    pub message_ts: String,
    /// The thread that message is in, if any.
    pub thread_ts: Option<String>,
    /// Unique to the click: the dedupe key.
    pub trigger_id: String,
    /// Where to answer the click for 30 minutes (replace or delete the message).
    pub response_url: Option<String>,
}

impl SlackAction {
    /// The conversation the clicked message belongs to.
    pub fn thread(&self) -> ThreadRef {
        ThreadRef::Slack {
            team: self.team.clone(),
            channel: self.channel.clone(),
            thread_ts: self
                .thread_ts
                .clone()
                .unwrap_or_else(|| self.message_ts.clone()),
        }
    }
}

/// A slash command: `/lucid fix the flaky test in acme/widgets`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlackCommand {
    pub team: String,
    pub channel: String,
    pub user: String,
    /// What follows the command, in Slack's markup; empty for a bare `/lucid`.
    pub text: String,
    /// The command itself, with its slash: `/lucid`.
    pub command: String,
    /// Where to answer the command for 30 minutes (up to five times).
    pub response_url: String,
    /// Unique to the invocation: the dedupe key.
    pub trigger_id: String,
}

/// Reads the body of an Events API request (JSON).
pub fn parse_events(body: &[u8]) -> Result<SlackRequest, PayloadError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        let hint = if body.starts_with(b"payload=") || body.starts_with(b"token=") {
            "; this looks like an interaction or a slash command: point those at their own \
             request URLs"
        } else {
            ""
        };
        PayloadError::new(format!("the body is not JSON ({e}){hint}"))
    })?;
    let kind = kind("the Events API body", &value)?;
    match kind {
        "url_verification" => {
            let p: UrlVerification = fields("the url_verification payload", "", &value)?;
            Ok(SlackRequest::UrlVerification {
                challenge: p.challenge,
            })
        }
        "event_callback" => event_callback(&value),
        other => Ok(ignored(format!("{other} requests are not handled"))),
    }
}

fn event_callback(value: &Value) -> Result<SlackRequest, PayloadError> {
    const WHAT: &str = "the event_callback payload";
    let p: EventCallback = fields(WHAT, "", value)?;
    let event_type = kind_at(WHAT, "event.", &p.event)?;
    let kind = match event_type {
        "app_mention" => MessageKind::AppMention,
        "message" => MessageKind::Message,
        other => return Ok(ignored(format!("{other} events are not handled"))),
    };
    let event: RawMessage = fields(WHAT, "event.", &p.event)?;
    if let Some(subtype) = event
        .subtype
        .as_deref()
        .filter(|s| !HANDLED_SUBTYPES.contains(s))
    {
        return Ok(ignored(format!(
            "{event_type} events of subtype {subtype} are not handled"
        )));
    }
    let event_id = id(WHAT, "event_id", &p.event_id)?;
    let bot_user_id = p
        .authorizations
        .into_iter()
        .flatten()
        .find(|a| a.is_bot)
        .map(|a| a.user_id);
    let text = event.text.unwrap_or_default();
    let is_mention = kind == MessageKind::AppMention
        || bot_user_id
            .as_deref()
            .is_some_and(|bot| mentions(&text, bot));
    Ok(SlackRequest::Message(SlackMessage {
        kind,
        event_id,
        team: p.team_id,
        channel: event.channel,
        user: event.user,
        bot_id: event.bot_id,
        text,
        ts: event.ts,
        thread_ts: event.thread_ts,
        is_mention,
        subtype: event.subtype,
        bot_user_id,
    }))
}

/// The `message` subtypes that are someone posting something; the rest (edits,
/// deletions, joins, topic changes, ...) are ignored.
const HANDLED_SUBTYPES: [&str; 4] = [
    "bot_message",
    "thread_broadcast",
    "file_share",
    "me_message",
];

/// Whether Slack's markup `text` mentions `user_id`: `<@U123>` or `<@U123|name>`.
fn mentions(text: &str, user_id: &str) -> bool {
    text.match_indices("<@").any(|(at, _)| {
        text[at + 2..]
            .strip_prefix(user_id)
            .is_some_and(|rest| rest.starts_with(['>', '|']))
    })
}

/// Reads the body of an interactive component's request: form-encoded, with the JSON
/// in its `payload` field.
pub fn parse_interaction(body: &[u8]) -> Result<SlackRequest, PayloadError> {
    const WHAT: &str = "the block_actions payload";
    let form = form(body, "an interaction")?;
    let payload = form_field(&form, "payload").ok_or_else(|| {
        PayloadError::new(
            "the body has no `payload` field: an interaction is form-encoded as \
             payload=<JSON>",
        )
    })?;
    let value: Value = serde_json::from_str(payload)
        .map_err(|e| PayloadError::new(format!("the `payload` field is not JSON ({e})")))?;
    match kind("the interaction payload", &value)? {
        "block_actions" => {}
        other => return Ok(ignored(format!("{other} interactions are not handled"))),
    }
    let p: BlockActions = fields(WHAT, "", &value)?;
    if p.container.kind != "message" {
        return Ok(ignored(format!(
            "block_actions in a {} are not handled",
            p.container.kind
        )));
    }
    let action = p
        .actions
        .into_iter()
        .next()
        .ok_or_else(|| PayloadError::new(format!("{WHAT} is invalid: `actions` is empty")))?;
    let channel = p
        .container
        .channel_id
        .or(p.channel.map(|c| c.id))
        .ok_or_else(|| missing(WHAT, "container.channel_id"))?;
    let message_ts = p
        .container
        .message_ts
        .or(p.message.as_ref().map(|m| m.ts.clone()))
        .ok_or_else(|| missing(WHAT, "container.message_ts"))?;
    let team = p
        .team
        .map(|t| t.id)
        .or(p.user.team_id)
        .ok_or_else(|| missing(WHAT, "team.id"))?;
    id(WHAT, "trigger_id", &p.trigger_id)?;
    Ok(SlackRequest::Action(SlackAction {
        team,
        channel,
        user: p.user.id,
        action_id: action.action_id,
        value: action.value.unwrap_or_default(),
        message_ts,
        thread_ts: p
            .container
            .thread_ts
            .or(p.message.and_then(|m| m.thread_ts)),
        trigger_id: p.trigger_id,
        response_url: p.response_url,
    }))
}

/// Reads the body of a slash command: form-encoded fields.
pub fn parse_command(body: &[u8]) -> Result<SlackRequest, PayloadError> {
    const WHAT: &str = "the slash command";
    let form = form(body, "a slash command")?;
    if form_field(&form, "ssl_check") == Some("1") {
        return Ok(ignored("an ssl_check"));
    }
    let required = |name: &str| {
        form_field(&form, name)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| missing(WHAT, name))
    };
    let command = SlackCommand {
        team: required("team_id")?,
        channel: required("channel_id")?,
        user: required("user_id")?,
        text: form_field(&form, "text").unwrap_or_default().to_owned(),
        command: required("command")?,
        response_url: required("response_url")?,
        trigger_id: required("trigger_id")?,
    };
    id(WHAT, "trigger_id", &command.trigger_id)?;
    Ok(SlackRequest::Command(command))
}

fn ignored(reason: impl Into<String>) -> SlackRequest {
    SlackRequest::Ignored {
        reason: reason.into(),
    }
}

fn missing(what: &str, field: &str) -> PayloadError {
    PayloadError::new(format!("{what} is invalid: `{field}` is missing"))
}

/// A form-encoded body's fields, in order. A JSON body is refused by name, since
/// anything at all reads as a form.
fn form<'b>(body: &'b [u8], what: &str) -> Result<Vec<FormField<'b>>, PayloadError> {
    if body.trim_ascii_start().starts_with(b"{") {
        return Err(PayloadError::new(format!(
            "the body is JSON, but {what} is form-encoded (application/x-www-form-urlencoded)"
        )));
    }
    Ok(url::form_urlencoded::parse(body).collect())
}

/// A form field's name and value, decoded.
type FormField<'b> = (Cow<'b, str>, Cow<'b, str>);

/// The first value of the form field `name`.
fn form_field<'f>(form: &'f [FormField<'_>], name: &str) -> Option<&'f str> {
    form.iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_ref())
}

/// A dedupe key, checked as lucid's stores will want it.
fn id(what: &str, field: &str, value: &str) -> Result<DeliveryId, PayloadError> {
    DeliveryId::parse(value)
        .map_err(|e| PayloadError::new(format!("{what} is invalid: `{field}` is wrong: {e}")))
}

/// The `type` of a JSON object.
fn kind<'v>(what: &str, value: &'v Value) -> Result<&'v str, PayloadError> {
    if !value.is_object() {
        return Err(PayloadError::new(format!("{what} is not a JSON object")));
    }
    kind_at(what, "", value)
}

fn kind_at<'v>(what: &str, prefix: &str, value: &'v Value) -> Result<&'v str, PayloadError> {
    if !value.is_object() {
        let at = prefix.trim_end_matches('.');
        return Err(PayloadError::new(format!(
            "{what} is invalid: `{at}` is not a JSON object"
        )));
    }
    match value.get("type") {
        Some(Value::String(kind)) => Ok(kind),
        Some(_) => Err(PayloadError::new(format!(
            "{what} is invalid: `{prefix}type` is not a string"
        ))),
        None => Err(PayloadError::new(format!(
            "{what} is invalid: `{prefix}type` is missing"
        ))),
    }
}

/// Reads the fields `T` needs from `value`, found at `prefix` (`""` or `"event."`) in
/// the body, naming the one at fault: "`event.channel` is missing".
fn fields<T: DeserializeOwned>(what: &str, prefix: &str, value: &Value) -> Result<T, PayloadError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        // serde's own wording for a missing field; the path is then its parent's.
        let missing = inner
            .strip_prefix("missing field `")
            .and_then(|rest| rest.strip_suffix('`'));
        let reason = match (missing, path.as_str()) {
            (Some(field), ".") => format!("`{prefix}{field}` is missing"),
            (Some(field), parent) => format!("`{prefix}{parent}.{field}` is missing"),
            (None, ".") if prefix.is_empty() => inner,
            (None, ".") => format!("`{}` is wrong: {inner}", prefix.trim_end_matches('.')),
            (None, at) => format!("`{prefix}{at}` is wrong: {inner}"),
        };
        PayloadError::new(format!("{what} is invalid: {reason}"))
    })
}

#[derive(Deserialize)]
struct UrlVerification {
    challenge: String,
}

#[derive(Deserialize)]
struct EventCallback {
    team_id: String,
    event_id: String,
    /// Read by its `type` once the rest is known good.
    event: Value,
    authorizations: Option<Vec<Authorization>>,
}

#[derive(Deserialize)]
struct Authorization {
    user_id: String,
    #[serde(default)]
    is_bot: bool,
}

/// An `app_mention` or `message` event.
#[derive(Deserialize)]
struct RawMessage {
    channel: String,
    ts: String,
    text: Option<String>,
    user: Option<String>,
    bot_id: Option<String>,
    thread_ts: Option<String>,
    subtype: Option<String>,
}

#[derive(Deserialize)]
struct BlockActions {
    team: Option<RawTeam>,
    user: RawUser,
    container: RawContainer,
    channel: Option<RawChannel>,
    message: Option<RawContainerMessage>,
    trigger_id: String,
    response_url: Option<String>,
    actions: Vec<RawAction>,
}

#[derive(Deserialize)]
struct RawTeam {
    id: String,
}

#[derive(Deserialize)]
struct RawUser {
    id: String,
    team_id: Option<String>,
}

#[derive(Deserialize)]
struct RawContainer {
    #[serde(rename = "type")]
    kind: String,
    message_ts: Option<String>,
    channel_id: Option<String>,
    thread_ts: Option<String>,
}

#[derive(Deserialize)]
struct RawChannel {
    id: String,
}

#[derive(Deserialize)]
struct RawContainerMessage {
    ts: String,
    thread_ts: Option<String>,
}

#[derive(Deserialize)]
struct RawAction {
    action_id: String,
    value: Option<String>,
}

#[cfg(test)]
mod tests;
