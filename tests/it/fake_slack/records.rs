//! What the fake Slack recorded, as the tests see it.

use serde_json::Value;
use std::time::Instant;

/// Who the bot is: what `auth.test` answers and who posted the bot's messages.
#[derive(Clone, Debug)]
pub struct SlackIdentity {
    pub team_id: String,
    pub team: String,
    /// The bot user's id (`U…`): the author of every message the fake stores.
    pub user_id: String,
    /// The bot user's name.
    pub user: String,
    pub bot_id: String,
    pub app_id: String,
    /// The workspace URL, with a trailing slash.
    pub url: String,
}

impl Default for SlackIdentity {
    fn default() -> Self {
        SlackIdentity {
            team_id: "T0001".into(),
            team: "Acme".into(),
            user_id: "U0LUCID".into(),
            user: "lucid".into(),
            bot_id: "B0001".into(),
            app_id: "A0001".into(),
            url: "https://acme.slack.com/".into(),
        }
    }
}

/// A message the bot posted with `chat.postMessage`, as it stands now.
#[derive(Clone, Debug, PartialEq)]
pub struct SlackMessage {
    pub channel: String,
    pub ts: String,
    /// The thread it was posted in (None: top level of the channel).
    pub thread_ts: Option<String>,
    /// The current text ("" when the message has blocks only).
    pub text: String,
    /// The current blocks (`Value::Null` when it has none).
    pub blocks: Value,
    /// The bot user id that posted it.
    pub user: String,
    /// Every `chat.update`, oldest first: the (text, blocks) after that edit. The last
    /// one is `(text, blocks)`.
    pub edits: Vec<(String, Value)>,
    /// The parameters of the original `chat.postMessage` (JSON or form, without
    /// `token`; a form's `blocks` decoded to JSON).
    pub params: Value,
}

impl SlackMessage {
    /// Every text the message has had, the posted one first.
    pub fn texts(&self) -> Vec<String> {
        let first = self.params["text"].as_str().unwrap_or_default().to_owned();
        std::iter::once(first)
            .chain(self.edits.iter().map(|(text, _)| text.clone()))
            .collect()
    }
}

/// A reaction the bot added (and has not removed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlackReaction {
    pub channel: String,
    /// The `ts` of the message reacted to.
    pub timestamp: String,
    /// The emoji name without colons: `eyes`, `white_check_mark`, …
    pub name: String,
    /// The bot user id.
    pub user: String,
}

/// A message posted with `chat.postEphemeral` (seen only by `user`).
#[derive(Clone, Debug, PartialEq)]
pub struct SlackEphemeral {
    pub channel: String,
    pub user: String,
    pub thread_ts: Option<String>,
    pub text: String,
    pub blocks: Value,
    pub message_ts: String,
}

/// One request the fake answered.
#[derive(Clone, Debug)]
pub struct SlackCall {
    /// The Web API method: `chat.postMessage`, … (for a path outside `/api/`, the path).
    pub method: String,
    /// `GET` or `POST`.
    pub http_method: String,
    /// The request path as sent (slack-morphism with a trailing-slash API url sends
    /// `/api//chat.postMessage`; the fake serves it like `/api/chat.postMessage`).
    pub path: String,
    pub content_type: Option<String>,
    /// The token sent (Authorization: Bearer, or `token` in a form or the query).
    pub token: Option<String>,
    /// The request body as text.
    pub body: String,
    /// Query and body parameters as one JSON object, without `token`; form values are
    /// strings, except `blocks`/`attachments`/`metadata`, decoded from their JSON text.
    pub params: Value,
    pub status: u16,
    /// The answer's body.
    pub response: Value,
    /// The answer's `error` when `ok` was false.
    pub error: Option<String>,
    pub at: Instant,
    /// Answered 429 (by `rate_limit_next` or `enforce_channel_rate`).
    pub rate_limited: bool,
    /// Answered with a failure set up by `fail_next`.
    pub injected: bool,
    /// Something lucid should never do: an unknown method or path, a missing or wrong
    /// token, bad parameters, an update of a message the bot never posted. Every
    /// `ok: false` answer except `ratelimited`, `already_reacted`, `no_reaction` and
    /// injected failures.
    pub unexpected: bool,
}

impl SlackCall {
    /// A parameter as text (strings as they are, numbers and booleans printed).
    pub fn param(&self, name: &str) -> Option<String> {
        super::server::text_param(&self.params, name)
    }
}
