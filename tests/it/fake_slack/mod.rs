//! A fake Slack Web API on loopback for end-to-end tests: `POST /api/<method>` (and
//! `GET` with a query, which is how slack-morphism calls `auth.test`) in Slack's wire
//! format. Bodies may be JSON (`application/json`, the token in `Authorization:
//! Bearer`) or a form (`application/x-www-form-urlencoded`, the token in the header or
//! a `token` field); answers are `{"ok": true, …}` or `{"ok": false, "error": …}` with
//! HTTP 200, like Slack.
//!
//! Served: `auth.test`, `chat.postMessage`, `chat.update`, `chat.postEphemeral`,
//! `reactions.add`, `reactions.remove`. Anything else answers 404 `unknown_method`.
//!
//! Every request is recorded and wakes `wait_until`, so a test waits for what lucid
//! did rather than sleeping. Requests lucid should never make (unknown methods, a
//! missing or wrong token, bad parameters) are flagged `unexpected`, so a test can
//! assert there were none.
//!
//! Point slack-morphism at it with
//! `SlackClientHyperConnector::with_connector(https_or_http_connector).with_slack_api_url(&fake.api_url)`
//! (checked against lucid's slack-morphism client by `fake_slack_selftest`).

mod records;
mod server;

pub use records::{SlackCall, SlackEphemeral, SlackIdentity, SlackMessage, SlackReaction};

use server::{Inner, Shared};
use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::Notify;

use crate::harness::DEADLINE;

pub struct FakeSlack {
    /// `http://127.0.0.1:PORT`.
    pub origin: String,
    /// `{origin}/api/`: what lucid's Slack API url is set to.
    pub api_url: String,
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
            inner: Mutex::new(Inner::default()),
            recorded: Notify::new(),
        });
        let app = axum::Router::new()
            .fallback(server::handle)
            .with_state(state.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        FakeSlack {
            api_url: format!("{origin}/api/"),
            origin,
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
