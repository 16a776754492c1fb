//! The fake's state and its one handler: every request is parsed (JSON, form or query),
//! judged (method, rate limit, token, parameters), answered in Slack's shapes and
//! recorded.

use super::records::{SlackCall, SlackEphemeral, SlackIdentity, SlackMessage, SlackReaction};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use serde_json::{Map, Value, json};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// The methods the fake serves.
const METHODS: &[&str] = &[
    "auth.test",
    "chat.postMessage",
    "chat.update",
    "chat.postEphemeral",
    "reactions.add",
    "reactions.remove",
    "users.info",
];

/// The bot scope each method needs, from its page in Slack's reference
/// (https://docs.slack.dev/reference/methods/chat.postMessage and the others);
/// `auth.test` needs none.
fn needed_scope(method: &str) -> Option<&'static str> {
    match method {
        "chat.postMessage" | "chat.update" | "chat.postEphemeral" => Some("chat:write"),
        "reactions.add" | "reactions.remove" => Some("reactions:write"),
        "users.info" => Some("users:read"),
        _ => None,
    }
}

/// The methods `rate_limit_next` counts.
const WRITES: &[&str] = &[
    "chat.postMessage",
    "chat.update",
    "chat.postEphemeral",
    "reactions.add",
    "reactions.remove",
];

/// The methods `enforce_channel_rate` paces, per channel.
const PACED: &[&str] = &["chat.postMessage", "chat.update"];

/// Errors a well-behaved client may still meet; not `unexpected`.
const EXPECTED_ERRORS: &[&str] = &["ratelimited", "already_reacted", "no_reaction"];

/// Slack's limits: at most 50 blocks, 3000 characters in a section's text, 40 000 in
/// a message's text.
const MAX_BLOCKS: usize = 50;
const MAX_SECTION_TEXT: usize = 3000;
const MAX_TEXT: usize = 40_000;
/// Block Kit's limits on an actions block and its buttons
/// (https://docs.slack.dev/reference/block-kit/blocks/actions-block,
/// https://docs.slack.dev/reference/block-kit/block-elements/button-element): at most
/// 25 elements; a button's `text` plain_text of at most 75 characters, `action_id` at
/// most 255 (unique in its block), `value` at most 2000, `url` at most 3000, `style`
/// `primary` or `danger`; a `block_id` at most 255 (unique in its message).
const MAX_ACTIONS: usize = 25;
const MAX_BUTTON_TEXT: usize = 75;
const MAX_ACTION_ID: usize = 255;
const MAX_BUTTON_VALUE: usize = 2000;
const MAX_BUTTON_URL: usize = 3000;
const MAX_BLOCK_ID: usize = 255;

pub(super) struct Shared {
    pub(super) token: String,
    pub(super) identity: SlackIdentity,
    pub(super) inner: Mutex<Inner>,
    pub(super) recorded: Notify,
}

#[derive(Default)]
pub(super) struct Inner {
    /// How many timestamps were handed out.
    pub(super) ts_count: u64,
    pub(super) messages: Vec<SlackMessage>,
    pub(super) reactions: Vec<SlackReaction>,
    pub(super) ephemerals: Vec<SlackEphemeral>,
    pub(super) calls: Vec<SlackCall>,
    /// Write calls still to answer 429, and the Retry-After they carry.
    pub(super) rate_limited: usize,
    pub(super) retry_after_secs: u64,
    pub(super) channel_interval: Option<Duration>,
    /// When each channel last had a post or update accepted.
    pub(super) last_write: HashMap<String, Instant>,
    /// None: every channel exists.
    pub(super) channels: Option<HashSet<String>>,
    /// (method, error) answered instead, each once, in order.
    pub(super) failures: VecDeque<(String, String)>,
    /// The workspace's people for `users.info`: id → (name, real name, display name).
    pub(super) users: HashMap<String, (String, String, String)>,
    /// How many button clicks were sent (each gets its own `trigger_id`).
    pub(super) clicks: u64,
    /// The bot token's scopes, as `x-oauth-scopes` lists them.
    pub(super) scopes: Vec<String>,
    /// The token was revoked: every call answers `token_revoked`.
    pub(super) revoked: bool,
}

impl Shared {
    pub(super) fn inner(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Inner {
    /// A fresh message timestamp, unique and increasing: 1700000000.000100, .000200, …
    fn next_ts(&mut self) -> String {
        self.ts_count += 1;
        let micros = 1_700_000_000_000_000u64 + self.ts_count * 100;
        format!("{}.{:06}", micros / 1_000_000, micros % 1_000_000)
    }

    fn message_mut(&mut self, channel: &str, ts: &str) -> Option<&mut SlackMessage> {
        self.messages
            .iter_mut()
            .find(|m| m.channel == channel && m.ts == ts)
    }
}

/// A parameter as text: strings as they are, numbers and booleans printed.
pub(super) fn text_param(params: &Value, name: &str) -> Option<String> {
    match params.get(name)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A non-empty text parameter.
fn present(params: &Value, name: &str) -> Option<String> {
    text_param(params, name).filter(|s| !s.is_empty())
}

/// What a method answers, before it becomes an HTTP response.
struct Answer {
    status: u16,
    body: Value,
    retry_after: Option<u64>,
}

impl Answer {
    fn ok(fields: Value) -> Answer {
        let mut body = json!({"ok": true});
        if let (Some(body), Value::Object(fields)) = (body.as_object_mut(), fields) {
            body.extend(fields);
        }
        Answer {
            status: 200,
            body,
            retry_after: None,
        }
    }

    /// Slack's error shape, with HTTP 200 like Slack.
    fn error(error: &str) -> Answer {
        Answer {
            status: 200,
            body: json!({"ok": false, "error": error}),
            retry_after: None,
        }
    }

    /// `invalid_blocks`, with what is wrong in `response_metadata` like Slack.
    fn invalid_blocks(why: &str) -> Answer {
        let mut answer = Answer::error("invalid_blocks");
        answer.body["response_metadata"] = json!({"messages": [format!("[ERROR] {why}")]});
        answer
    }

    fn rate_limited(retry_after_secs: u64) -> Answer {
        Answer {
            status: 429,
            body: json!({"ok": false, "error": "ratelimited"}),
            retry_after: Some(retry_after_secs),
        }
    }
}

/// The request's parameters: the query, then the body (JSON object or form).
struct Parsed {
    params: Map<String, Value>,
    /// `token` from a form or the query (Slack ignores one in a JSON body).
    form_token: Option<String>,
}

fn parse(content_type: Option<&str>, query: &str, body: &[u8]) -> Result<Parsed, &'static str> {
    let mut params = Map::new();
    let mut form_token = None;
    let mut form = |raw: &[u8], params: &mut Map<String, Value>| {
        for (key, value) in url::form_urlencoded::parse(raw) {
            if key == "token" {
                form_token = Some(value.into_owned());
                continue;
            }
            let value = match key.as_ref() {
                // Structured fields travel as JSON text in a form.
                "blocks" | "attachments" | "metadata" => serde_json::from_str(&value)
                    .unwrap_or_else(|_| Value::String(value.into_owned())),
                _ => Value::String(value.into_owned()),
            };
            params.insert(key.into_owned(), value);
        }
    };
    form(query.as_bytes(), &mut params);
    let mime = content_type
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    if !body.is_empty() {
        match mime.as_str() {
            "application/json" => match serde_json::from_slice(body) {
                Ok(Value::Object(object)) => {
                    // A JSON body's `token` does not authenticate (Slack wants the header).
                    params.extend(object.into_iter().filter(|(k, _)| k != "token"));
                }
                _ => return Err("invalid_json"),
            },
            "application/x-www-form-urlencoded" | "" => form(body, &mut params),
            _ => return Err("invalid_form_data"),
        }
    }
    Ok(Parsed { params, form_token })
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get("authorization")?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
}

pub(super) async fn handle(
    State(state): State<Arc<Shared>>,
    http_method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let at = Instant::now();
    let path = uri.path().to_owned();
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    // `{api_url}/{method}` with an api url ending in `/` gives `/api//method`.
    let method = match path.strip_prefix("/api/") {
        Some(rest) => rest.trim_start_matches('/').to_owned(),
        None => path.clone(),
    };
    let parsed = parse(
        content_type.as_deref(),
        uri.query().unwrap_or_default(),
        &body,
    );
    let (params, form_token, parse_error) = match parsed {
        Ok(parsed) => (parsed.params, parsed.form_token, None),
        Err(error) => (Map::new(), None, Some(error)),
    };
    let token = bearer(&headers).or(form_token);
    let params = Value::Object(params);

    let (answer, injected) = if !path.starts_with("/api/") || !METHODS.contains(&method.as_str()) {
        let mut answer = Answer::error("unknown_method");
        answer.status = 404;
        answer.body["req_method"] = Value::String(method.clone());
        (answer, false)
    } else if let Some(answer) = state.rate_limit(&method, &params, at) {
        (answer, false)
    } else if token.is_none() {
        (Answer::error("not_authed"), false)
    } else if token.as_deref() != Some(state.token.as_str()) {
        (Answer::error("invalid_auth"), false)
    } else if state.inner().revoked {
        (Answer::error("token_revoked"), false)
    } else if let Some(answer) = state.missing_scope(&method) {
        (answer, false)
    } else if let Some(error) = parse_error {
        (Answer::error(error), false)
    } else if let Some(error) = state.take_failure(&method) {
        (Answer::error(&error), true)
    } else {
        (state.serve(&method, &params, at), false)
    };

    // Slack lists the token's scopes, and those the method accepts, on every answer
    // to a known token.
    let scope_headers = (token.as_deref() == Some(state.token.as_str())).then(|| {
        (
            state.inner().scopes.join(","),
            needed_scope(&method).unwrap_or_default(),
        )
    });
    let error = (answer.body["ok"] == false)
        .then(|| answer.body["error"].as_str().unwrap_or_default().to_owned());
    let call = SlackCall {
        method,
        http_method: http_method.to_string(),
        path,
        content_type,
        token,
        body: String::from_utf8_lossy(&body).into_owned(),
        params,
        status: answer.status,
        response: answer.body.clone(),
        rate_limited: answer.status == 429,
        injected,
        unexpected: !injected
            && error
                .as_deref()
                .is_some_and(|e| !EXPECTED_ERRORS.contains(&e)),
        error,
        at,
    };
    state.inner().calls.push(call);
    state.recorded.notify_waiters();

    let mut response = Response::builder()
        .status(answer.status)
        .header("content-type", "application/json; charset=utf-8");
    if let Some(secs) = answer.retry_after {
        response = response.header("retry-after", secs.to_string());
    }
    if let Some((scopes, accepted)) = scope_headers {
        response = response.header("x-oauth-scopes", scopes);
        response = response.header("x-accepted-oauth-scopes", accepted);
    }
    response
        .body(axum::body::Body::from(answer.body.to_string()))
        .unwrap()
}

impl Shared {
    /// Slack's answer to a method the token lacks the scope of.
    fn missing_scope(&self, method: &str) -> Option<Answer> {
        let needed = needed_scope(method)?;
        let inner = self.inner();
        if inner.scopes.iter().any(|s| s == needed) {
            return None;
        }
        let mut answer = Answer::error("missing_scope");
        answer.body["needed"] = json!(needed);
        answer.body["provided"] = json!(inner.scopes.join(","));
        Some(answer)
    }

    fn take_failure(&self, method: &str) -> Option<String> {
        let mut inner = self.inner();
        let at = inner.failures.iter().position(|(m, _)| m == method)?;
        inner.failures.remove(at).map(|(_, error)| error)
    }

    /// 429 for a write call while `rate_limit_next` has some left, or for a post or
    /// update that comes too soon after the last one in its channel.
    fn rate_limit(&self, method: &str, params: &Value, now: Instant) -> Option<Answer> {
        if !WRITES.contains(&method) {
            return None;
        }
        let mut inner = self.inner();
        if inner.rate_limited > 0 {
            inner.rate_limited -= 1;
            return Some(Answer::rate_limited(inner.retry_after_secs));
        }
        let interval = inner.channel_interval?;
        if !PACED.contains(&method) {
            return None;
        }
        let channel = text_param(params, "channel")?;
        let last = *inner.last_write.get(&channel)?;
        let since = now.saturating_duration_since(last);
        (since < interval).then(|| {
            let wait = interval - since;
            Answer::rate_limited(wait.as_secs() + u64::from(wait.subsec_nanos() > 0))
        })
    }

    fn serve(&self, method: &str, params: &Value, now: Instant) -> Answer {
        let answer = match method {
            "auth.test" => self.auth_test(),
            "chat.postMessage" => self.post_message(params),
            "chat.update" => self.update(params),
            "chat.postEphemeral" => self.post_ephemeral(params),
            "reactions.add" => self.reactions_add(params),
            "reactions.remove" => self.reactions_remove(params),
            "users.info" => self.users_info(params),
            _ => unreachable!("{method} is in METHODS"),
        };
        if answer.body["ok"] == true
            && PACED.contains(&method)
            && let Some(channel) = text_param(params, "channel")
        {
            self.inner().last_write.insert(channel, now);
        }
        answer
    }

    /// `users.info`: a person of the workspace in Slack's shape (a display name may be
    /// empty: Slack leaves it so for people who never set one).
    fn users_info(&self, params: &Value) -> Answer {
        let Some(id) = present(params, "user") else {
            return Answer::error("user_not_found");
        };
        let Some((name, real_name, display_name)) = self.inner().users.get(&id).cloned() else {
            return Answer::error("user_not_found");
        };
        Answer::ok(json!({
            "user": {
                "id": id,
                "team_id": self.identity.team_id,
                "name": name,
                "deleted": false,
                "real_name": real_name,
                "tz": "Europe/London",
                "tz_label": "Greenwich Mean Time",
                "tz_offset": 0,
                "profile": {
                    "real_name": real_name,
                    "real_name_normalized": real_name,
                    "display_name": display_name,
                    "display_name_normalized": display_name,
                    "team": self.identity.team_id,
                },
                "is_admin": false,
                "is_owner": false,
                "is_bot": false,
                "updated": 1_700_000_000,
            }
        }))
    }

    fn auth_test(&self) -> Answer {
        let id = &self.identity;
        Answer::ok(json!({
            "url": id.url,
            "team": id.team,
            "user": id.user,
            "team_id": id.team_id,
            "user_id": id.user_id,
            "bot_id": id.bot_id,
            "is_enterprise_install": false,
        }))
    }

    /// The channel, or the error Slack gives when it is missing or unknown.
    fn channel(&self, params: &Value) -> Result<String, Answer> {
        let channel =
            present(params, "channel").ok_or_else(|| Answer::error("channel_not_found"))?;
        match &self.inner().channels {
            Some(known) if !known.contains(&channel) => Err(Answer::error("channel_not_found")),
            _ => Ok(channel),
        }
    }

    /// The text and blocks of a new message, checked against Slack's limits.
    fn content(params: &Value) -> Result<(String, Value), Answer> {
        let text = present(params, "text")
            .or_else(|| present(params, "markdown_text"))
            .unwrap_or_default();
        let blocks = params.get("blocks").cloned().unwrap_or(Value::Null);
        let has_blocks = blocks.as_array().is_some_and(|b| !b.is_empty());
        let has_attachments = params
            .get("attachments")
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty());
        if text.is_empty() && !has_blocks && !has_attachments {
            return Err(Answer::error("no_text"));
        }
        if text.chars().count() > MAX_TEXT {
            return Err(Answer::error("msg_too_long"));
        }
        check_blocks(&blocks).map_err(|why| Answer::invalid_blocks(&why))?;
        Ok((text, blocks))
    }

    pub(super) fn message_json(&self, message: &SlackMessage) -> Value {
        let id = &self.identity;
        let mut json = json!({
            "type": "message",
            "user": id.user_id,
            "bot_id": id.bot_id,
            "app_id": id.app_id,
            "team": id.team_id,
            "ts": message.ts,
            "text": message.text,
        });
        if !message.blocks.is_null() {
            json["blocks"] = message.blocks.clone();
        }
        if let Some(thread_ts) = &message.thread_ts {
            json["thread_ts"] = Value::String(thread_ts.clone());
        }
        json
    }

    fn post_message(&self, params: &Value) -> Answer {
        let channel = match self.channel(params) {
            Ok(channel) => channel,
            Err(answer) => return answer,
        };
        let (text, blocks) = match Self::content(params) {
            Ok(content) => content,
            Err(answer) => return answer,
        };
        let mut inner = self.inner();
        let ts = inner.next_ts();
        let message = SlackMessage {
            channel: channel.clone(),
            ts: ts.clone(),
            thread_ts: present(params, "thread_ts"),
            text,
            blocks,
            user: self.identity.user_id.clone(),
            edits: Vec::new(),
            params: params.clone(),
        };
        let json = self.message_json(&message);
        inner.messages.push(message);
        Answer::ok(json!({"channel": channel, "ts": ts, "message": json}))
    }

    fn update(&self, params: &Value) -> Answer {
        let channel = match self.channel(params) {
            Ok(channel) => channel,
            Err(answer) => return answer,
        };
        let Some(ts) = present(params, "ts") else {
            return Answer::error("message_not_found");
        };
        let text = present(params, "text").or_else(|| present(params, "markdown_text"));
        let blocks = params.get("blocks").cloned();
        if text.as_ref().is_some_and(|t| t.chars().count() > MAX_TEXT) {
            return Answer::error("msg_too_long");
        }
        if let Err(why) = check_blocks(blocks.as_ref().unwrap_or(&Value::Null)) {
            return Answer::invalid_blocks(&why);
        }
        let mut inner = self.inner();
        let edited_ts = inner.next_ts();
        let Some(message) = inner.message_mut(&channel, &ts) else {
            return Answer::error("message_not_found");
        };
        // Like Slack: what an update leaves out stays as it was.
        let text = text.unwrap_or_else(|| message.text.clone());
        let blocks = blocks.unwrap_or_else(|| message.blocks.clone());
        if text.is_empty() && blocks.as_array().is_none_or(|b| b.is_empty()) {
            return Answer::error("no_text");
        }
        message.text = text;
        message.blocks = blocks;
        message
            .edits
            .push((message.text.clone(), message.blocks.clone()));
        let message = message.clone();
        drop(inner);
        let mut json = self.message_json(&message);
        if let Some(json) = json.as_object_mut() {
            json.remove("ts");
            json.remove("thread_ts");
        }
        json["edited"] = json!({"user": self.identity.user_id, "ts": edited_ts});
        Answer::ok(json!({
            "channel": channel,
            "ts": ts,
            "text": message.text,
            "message": json,
        }))
    }

    fn post_ephemeral(&self, params: &Value) -> Answer {
        let channel = match self.channel(params) {
            Ok(channel) => channel,
            Err(answer) => return answer,
        };
        let Some(user) = present(params, "user") else {
            return Answer::error("user_not_in_channel");
        };
        let (text, blocks) = match Self::content(params) {
            Ok(content) => content,
            Err(answer) => return answer,
        };
        let mut inner = self.inner();
        let message_ts = inner.next_ts();
        inner.ephemerals.push(SlackEphemeral {
            channel,
            user,
            thread_ts: present(params, "thread_ts"),
            text,
            blocks,
            message_ts: message_ts.clone(),
        });
        Answer::ok(json!({"message_ts": message_ts}))
    }

    fn reaction(&self, params: &Value) -> Result<SlackReaction, Answer> {
        let channel = self.channel(params)?;
        let timestamp =
            present(params, "timestamp").ok_or_else(|| Answer::error("no_item_specified"))?;
        let name = present(params, "name").ok_or_else(|| Answer::error("invalid_name"))?;
        if name.starts_with(':') || name.ends_with(':') {
            return Err(Answer::error("invalid_name"));
        }
        Ok(SlackReaction {
            channel,
            timestamp,
            name,
            user: self.identity.user_id.clone(),
        })
    }

    fn reactions_add(&self, params: &Value) -> Answer {
        let reaction = match self.reaction(params) {
            Ok(reaction) => reaction,
            Err(answer) => return answer,
        };
        let mut inner = self.inner();
        if inner.reactions.contains(&reaction) {
            return Answer::error("already_reacted");
        }
        inner.reactions.push(reaction);
        Answer::ok(json!({}))
    }

    fn reactions_remove(&self, params: &Value) -> Answer {
        let reaction = match self.reaction(params) {
            Ok(reaction) => reaction,
            Err(answer) => return answer,
        };
        let mut inner = self.inner();
        let Some(at) = inner.reactions.iter().position(|r| *r == reaction) else {
            return Answer::error("no_reaction");
        };
        inner.reactions.remove(at);
        Answer::ok(json!({}))
    }
}

/// Blocks must be an array (or absent) of at most 50 objects with a `type`, a
/// section's text at most 3000 characters, `block_id`s unique and at most 255, and an
/// actions block within its limits (`check_actions`). Answers what is wrong.
fn check_blocks(blocks: &Value) -> Result<(), String> {
    let blocks = match blocks {
        Value::Null => return Ok(()),
        Value::Array(blocks) => blocks,
        _ => return Err("blocks must be an array".into()),
    };
    if blocks.len() > MAX_BLOCKS {
        return Err(format!(
            "no more than {MAX_BLOCKS} items allowed [json-pointer:/blocks]"
        ));
    }
    let mut block_ids = HashSet::new();
    for (i, block) in blocks.iter().enumerate() {
        let Some(kind) = block.get("type").and_then(Value::as_str) else {
            return Err(format!(
                "missing required field: type [json-pointer:/blocks/{i}]"
            ));
        };
        if let Some(block_id) = block.get("block_id").and_then(Value::as_str) {
            if block_id.chars().count() > MAX_BLOCK_ID {
                return Err(format!(
                    "must be less than {} characters [json-pointer:/blocks/{i}/block_id]",
                    MAX_BLOCK_ID + 1
                ));
            }
            if !block_ids.insert(block_id) {
                return Err(format!(
                    "duplicate block_id {block_id:?} [json-pointer:/blocks/{i}/block_id]"
                ));
            }
        }
        if kind == "section"
            && block["text"]["text"]
                .as_str()
                .is_some_and(|t| t.chars().count() > MAX_SECTION_TEXT)
        {
            return Err(format!(
                "must be less than {} characters [json-pointer:/blocks/{i}/text]",
                MAX_SECTION_TEXT + 1
            ));
        }
        if kind == "actions" {
            check_actions(block).map_err(|why| format!("{why} [json-pointer:/blocks/{i}]"))?;
        }
    }
    Ok(())
}

/// An actions block: 1 to 25 elements, each with a `type`; its buttons within Block
/// Kit's limits, their `action_id`s unique in the block.
fn check_actions(block: &Value) -> Result<(), String> {
    let Some(elements) = block.get("elements").and_then(Value::as_array) else {
        return Err("missing required field: elements".into());
    };
    if elements.is_empty() {
        return Err("must provide at least 1 items: elements".into());
    }
    if elements.len() > MAX_ACTIONS {
        return Err(format!(
            "no more than {MAX_ACTIONS} items allowed: elements"
        ));
    }
    let mut action_ids = HashSet::new();
    for (j, element) in elements.iter().enumerate() {
        let at = format!("elements/{j}");
        let Some(kind) = element.get("type").and_then(Value::as_str) else {
            return Err(format!("missing required field: type at {at}"));
        };
        if let Some(action_id) = element.get("action_id") {
            let Some(action_id) = action_id.as_str() else {
                return Err(format!("action_id must be a string at {at}"));
            };
            if action_id.chars().count() > MAX_ACTION_ID {
                return Err(format!(
                    "action_id must be less than {} characters at {at}",
                    MAX_ACTION_ID + 1
                ));
            }
            if !action_ids.insert(action_id) {
                return Err(format!("duplicate action_id {action_id:?} at {at}"));
            }
        }
        if kind == "button" {
            check_button(element).map_err(|why| format!("{why} at {at}"))?;
        }
    }
    Ok(())
}

/// A button: `text` plain_text of 1 to 75 characters, and its `value`, `url` and
/// `style` within Block Kit's limits.
fn check_button(button: &Value) -> Result<(), String> {
    let text = &button["text"];
    if text["type"] != "plain_text" {
        return Err("text must be a plain_text object".into());
    }
    let chars = text["text"].as_str().map_or(0, |t| t.chars().count());
    if chars == 0 {
        return Err("text must have at least 1 character".into());
    }
    if chars > MAX_BUTTON_TEXT {
        return Err(format!(
            "text must be less than {} characters",
            MAX_BUTTON_TEXT + 1
        ));
    }
    let longer = |field: &str, max: usize| {
        button
            .get(field)
            .and_then(Value::as_str)
            .is_some_and(|v| v.chars().count() > max)
    };
    if longer("value", MAX_BUTTON_VALUE) {
        return Err(format!(
            "value must be less than {} characters",
            MAX_BUTTON_VALUE + 1
        ));
    }
    if longer("url", MAX_BUTTON_URL) {
        return Err(format!(
            "url must be less than {} characters",
            MAX_BUTTON_URL + 1
        ));
    }
    match button.get("style") {
        None => Ok(()),
        Some(style) if style == "primary" || style == "danger" => Ok(()),
        Some(style) => Err(format!(
            "style must be one of [primary, danger], not {style}"
        )),
    }
}
