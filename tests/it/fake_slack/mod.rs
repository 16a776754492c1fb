//! A fake Slack Web API on loopback for end-to-end tests: `POST /api/<method>` (and
//! `GET` with a query, which is how slack-morphism calls `auth.test`) in Slack's wire
//! format. Bodies may be JSON (`application/json`, the token in `Authorization:
//! Bearer`) or a form (`application/x-www-form-urlencoded`, the token in the header or
//! a `token` field); answers are `{"ok": true, …}` or `{"ok": false, "error": …}` with
//! HTTP 200, like Slack.
//!
//! Served: `auth.test`, `chat.postMessage`, `chat.update`, `chat.postEphemeral`,
//! `reactions.add`, `reactions.remove`, `users.info`. Anything else answers 404
//! `unknown_method`.
//!
//! The bot token has scopes, as an installed app's does: by default those lucid's
//! app manifest asks for (`lucid setup slack`), so a method lucid calls that its
//! manifest gives no scope for fails with `missing_scope` (each method's scope is
//! Slack's, written here from its reference). Every answer lists the token's scopes
//! in `x-oauth-scopes`, like Slack. A test can take scopes away (`set_scopes`) or
//! revoke the token (`revoke_token`: every call then answers `token_revoked`).
//!
//! Every request is recorded and wakes `wait_until`, so a test waits for what lucid
//! did rather than sleeping. Requests lucid should never make (unknown methods, a
//! missing or wrong token, bad parameters) are flagged `unexpected`, so a test can
//! assert there were none.
//!
//! A test can click a button of the bot's messages as a person would
//! (`click_button`): the fake sends lucid the `block_actions` interaction Slack would,
//! signed with the app's signing secret.
//!
//! Point slack-morphism at it with
//! `SlackClientHyperConnector::with_connector(https_or_http_connector).with_slack_api_url(&fake.api_url)`
//! (checked against lucid's slack-morphism client by `fake_slack_selftest`).

mod records;
mod server;

// One file for every fake platform, the same switch in each (a benchmark takes one
// fake alone, so each loads its own copy).
#[allow(clippy::duplicate_mod)]
#[path = "../fake_outage.rs"]
mod outage;
pub use outage::{Down, Outage};
pub use records::{SlackCall, SlackEphemeral, SlackIdentity, SlackMessage, SlackReaction};

use serde_json::{Value, json};
use server::{Inner, Shared};
use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::Notify;

use crate::harness::DEADLINE;
use outage::{Gated, gate};

pub struct FakeSlack {
    /// `http://127.0.0.1:PORT`.
    pub origin: String,
    /// `{origin}/api/`: what lucid's Slack API url is set to.
    pub api_url: String,
    /// Takes the whole Web API down when a test says (`fake_outage`).
    pub outage: Outage,
    state: Arc<Shared>,
}

impl FakeSlack {
    /// Starts the fake; it accepts `bot_token` only and answers `auth.test` with
    /// `SlackIdentity::default()` (team T0001 "Acme", bot user U0LUCID, bot B0001).
    pub async fn start(bot_token: &str) -> FakeSlack {
        FakeSlack::start_with(bot_token, SlackIdentity::default()).await
    }

    /// Starts the fake with other ids for the workspace and the bot.
    pub async fn start_with(bot_token: &str, identity: SlackIdentity) -> FakeSlack {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let origin = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Shared {
            token: bot_token.to_owned(),
            identity,
            inner: Mutex::new(Inner {
                scopes: lucid::slack::manifest::bot_scopes()
                    .into_iter()
                    .map(str::to_owned)
                    .collect(),
                ..Inner::default()
            }),
            recorded: Notify::new(),
        });
        let outage = Outage::default();
        let app = axum::Router::new()
            .fallback(server::handle)
            .with_state(state.clone())
            .layer(axum::middleware::from_fn_with_state(outage.clone(), gate));
        let listener = Gated::new(listener, outage.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        FakeSlack {
            api_url: format!("{origin}/api/"),
            origin,
            outage,
            state,
        }
    }

    fn inner(&self) -> MutexGuard<'_, Inner> {
        self.state.inner()
    }

    pub fn identity(&self) -> &SlackIdentity {
        &self.state.identity
    }

    /// Only these channel ids exist from now on: posting, updating or reacting
    /// elsewhere answers `channel_not_found`. By default every channel exists.
    pub fn set_channels(&self, channels: &[&str]) {
        self.inner().channels = Some(
            channels
                .iter()
                .map(|c| (*c).to_owned())
                .collect::<HashSet<_>>(),
        );
    }

    /// The bot token's scopes from now on (the app reinstalled with these).
    pub fn set_scopes(&self, scopes: &[&str]) {
        self.inner().scopes = scopes.iter().map(|s| (*s).to_owned()).collect();
    }

    /// Revokes the bot token (the app uninstalled): every call answers
    /// `token_revoked`.
    pub fn revoke_token(&self) {
        self.inner().revoked = true;
    }

    /// A person of the workspace, for `users.info` (others are `user_not_found`).
    pub fn add_user(&self, id: &str, name: &str, real_name: &str, display_name: &str) {
        self.inner().users.insert(
            id.to_owned(),
            (
                name.to_owned(),
                real_name.to_owned(),
                display_name.to_owned(),
            ),
        );
    }

    /// Every message posted with `chat.postMessage`, in order, as it stands now.
    pub fn messages(&self) -> Vec<SlackMessage> {
        self.inner().messages.clone()
    }

    /// The bot's messages in the thread `thread_ts` of `channel`, in order: replies
    /// posted with that `thread_ts`, and the parent itself if the bot posted it.
    pub fn thread(&self, channel: &str, thread_ts: &str) -> Vec<SlackMessage> {
        self.inner()
            .messages
            .iter()
            .filter(|m| {
                m.channel == channel
                    && (m.thread_ts.as_deref() == Some(thread_ts) || m.ts == thread_ts)
            })
            .cloned()
            .collect()
    }

    /// The message `ts` in `channel`, if the bot posted it.
    pub fn message(&self, channel: &str, ts: &str) -> Option<SlackMessage> {
        self.inner()
            .messages
            .iter()
            .find(|m| m.channel == channel && m.ts == ts)
            .cloned()
    }

    /// The bot's reactions now (added and not removed), in the order added.
    pub fn reactions(&self) -> Vec<SlackReaction> {
        self.inner().reactions.clone()
    }

    /// Every message posted with `chat.postEphemeral`, in order.
    pub fn ephemerals(&self) -> Vec<SlackEphemeral> {
        self.inner().ephemerals.clone()
    }

    /// Every request so far, in the order they were answered.
    pub fn calls(&self) -> Vec<SlackCall> {
        self.inner().calls.clone()
    }

    /// The calls of one Web API method, in order.
    pub fn calls_to(&self, method: &str) -> Vec<SlackCall> {
        self.inner()
            .calls
            .iter()
            .filter(|c| c.method == method)
            .cloned()
            .collect()
    }

    /// Calls lucid should never make: unknown methods, bad auth, bad parameters.
    pub fn unexpected(&self) -> Vec<SlackCall> {
        self.inner()
            .calls
            .iter()
            .filter(|c| c.unexpected)
            .cloned()
            .collect()
    }

    /// The next `n` write calls (post, update, ephemeral, reactions) answer HTTP 429
    /// `{"ok":false,"error":"ratelimited"}` with `Retry-After: retry_after_secs`, and
    /// change nothing.
    pub fn rate_limit_next(&self, n: usize, retry_after_secs: u64) {
        let mut inner = self.inner();
        inner.rate_limited = n;
        inner.retry_after_secs = retry_after_secs;
    }

    /// From now on a `chat.postMessage` or `chat.update` less than `min_interval` after
    /// the last accepted one in the same channel answers 429 (Retry-After: the rest of
    /// the interval, rounded up to whole seconds).
    pub fn enforce_channel_rate(&self, min_interval: Duration) {
        self.inner().channel_interval = Some(min_interval);
    }

    /// The next call of `method` answers `{"ok": false, "error": error}` (HTTP 200) and
    /// changes nothing; queued failures are used in order, each once. Not `unexpected`.
    pub fn fail_next(&self, method: &str, error: &str) {
        self.inner()
            .failures
            .push_back((method.to_owned(), error.to_owned()));
    }

    /// Clicks, as `user`, the button `action_id` of the latest message the bot posted
    /// that shows one now (its current blocks), as Slack does: a `block_actions`
    /// interaction, form-encoded as `payload=<JSON>`, signed with `signing_secret`
    /// (`X-Slack-Signature`, `X-Slack-Request-Timestamp`) and POSTed to
    /// `{lucid_url}/webhooks/slack/interactions`. Answers lucid's HTTP status. Panics
    /// when no message of the bot has such a button.
    pub async fn click_button(
        &self,
        lucid_url: &str,
        signing_secret: &str,
        user: &str,
        action_id: &str,
    ) -> u16 {
        self.click_button_answered(lucid_url, signing_secret, user, action_id)
            .await
            .0
    }

    /// `click_button`, answering lucid's JSON body too (Null when not JSON).
    pub async fn click_button_answered(
        &self,
        lucid_url: &str,
        signing_secret: &str,
        user: &str,
        action_id: &str,
    ) -> (u16, Value) {
        let payload = self.block_actions(user, action_id);
        let body = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("payload", &payload.to_string())
            .finish()
            .into_bytes();
        let timestamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let signature = lucid::slack::inbound::sign(signing_secret, timestamp, &body);
        let request = reqwest::Client::new()
            .post(format!("{lucid_url}/webhooks/slack/interactions"))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("X-Slack-Request-Timestamp", timestamp.to_string())
            .header("X-Slack-Signature", signature)
            .body(body);
        let response = tokio::time::timeout(DEADLINE, request.send())
            .await
            .unwrap_or_else(|_| {
                panic!("timed out after {DEADLINE:?} waiting for lucid to answer a click")
            })
            .unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// The `block_actions` payload of `user` clicking the button `action_id` on the
    /// latest of the bot's messages that shows it, in Slack's shape
    /// (https://docs.slack.dev/reference/interaction-payloads/block_actions-payload).
    pub fn block_actions(&self, user: &str, action_id: &str) -> Value {
        let shows = |m: &&SlackMessage| button(&m.blocks, action_id).is_some();
        let mut inner = self.inner();
        let Some(message) = inner.messages.iter().rev().find(shows).cloned() else {
            panic!("no message of the bot shows a button {action_id:?} now");
        };
        let (block_id, element) = button(&message.blocks, action_id).unwrap();
        inner.clicks += 1;
        let click = inner.clicks;
        drop(inner);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap();
        let action_ts = format!("{}.{:06}", now.as_secs(), now.subsec_micros());
        let id = &self.state.identity;
        let mut container = json!({
            "type": "message",
            "message_ts": message.ts,
            "channel_id": message.channel,
            "is_ephemeral": false,
        });
        if let Some(thread_ts) = &message.thread_ts {
            container["thread_ts"] = json!(thread_ts);
        }
        let mut action = json!({
            "type": "button",
            "action_id": action_id,
            "block_id": block_id,
            "text": element["text"],
            "action_ts": action_ts,
        });
        for field in ["value", "style"] {
            if let Some(v) = element.get(field) {
                action[field] = v.clone();
            }
        }
        json!({
            "type": "block_actions",
            "user": {"id": user, "username": user.to_lowercase(), "name": user.to_lowercase(), "team_id": id.team_id},
            "api_app_id": id.app_id,
            "token": "fake-verification-token",
            "container": container,
            "trigger_id": format!("{}.{click}.fakeclick{click:08x}", now.as_secs()),
            "team": {"id": id.team_id, "domain": id.team.to_lowercase()},
            "enterprise": null,
            "is_enterprise_install": false,
            "channel": {"id": message.channel, "name": "channel"},
            "message": self.state.message_json(&message),
            "state": {"values": {}},
            "response_url": format!(
                "{}/actions/{}/{click}/fake-response",
                self.origin, id.team_id
            ),
            "actions": [action],
        })
    }

    /// Waits until `f` returns Some, re-checking after every request the fake answers;
    /// panics after the harness deadline naming `what` and listing the calls.
    pub async fn wait_until<T>(&self, what: &str, f: impl Fn(&FakeSlack) -> Option<T>) -> T {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            let notified = self.state.recorded.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(value) = f(self) {
                return value;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                if let Some(value) = f(self) {
                    return value;
                }
                panic!(
                    "timed out after {DEADLINE:?} waiting for {what}; the fake Slack saw:\n{}",
                    self.calls()
                        .iter()
                        .map(|c| format!(
                            "  {} {} -> {} {}",
                            c.http_method,
                            c.method,
                            c.status,
                            c.error.as_deref().unwrap_or("ok")
                        ))
                        .collect::<Vec<_>>()
                        .join("\n")
                );
            }
        }
    }
}

/// The button `action_id` in `blocks` (an actions block's element, or a section's
/// accessory), with its block's `block_id` (Slack makes one up when the message set
/// none).
fn button(blocks: &Value, action_id: &str) -> Option<(String, Value)> {
    blocks
        .as_array()?
        .iter()
        .enumerate()
        .find_map(|(i, block)| {
            let elements = block["elements"]
                .as_array()
                .into_iter()
                .flatten()
                .chain(block.get("accessory"));
            elements
                .filter(|e| e["type"] == "button" && e["action_id"] == action_id)
                .map(|e| {
                    let block_id = block["block_id"]
                        .as_str()
                        .map_or_else(|| format!("fake-block-{i}"), str::to_owned);
                    (block_id, e.clone())
                })
                .next()
        })
}
