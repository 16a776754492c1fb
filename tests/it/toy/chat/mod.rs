//! ToyChat: a small chat service, faked on loopback, for a platform lucid learns
//! entirely from the test crate. It has rooms; a message in a room starts a thread,
//! and replies name their thread's first message. Messages keep their edit history,
//! and people (and the bot) react to them.
//!
//! Its API, JSON in and out, every call with `Authorization: Bearer <token>`:
//!
//! | call | answer |
//! | --- | --- |
//! | `POST /api/rooms/{room}/messages` `{"text", "thread"?}` | 201 `{"message": …}` |
//! | `PATCH /api/rooms/{room}/messages/{id}` `{"text"}` | 200 `{"message": …}` (only the author's) |
//! | `POST /api/rooms/{room}/messages/{id}/reactions` `{"emoji"}` | 201 `{}` |
//! | `GET /api/users/{id}` | 200 `{"user": {"id", "name"}}` |
//!
//! It refuses what a real service would: 401 `invalid_token` (no or a wrong token),
//! 400 `message_too_long` (over [`MAX_TEXT`] characters), `no_text`, `invalid_json`,
//! `invalid_emoji`; 403 `cant_edit_message` (someone else's); 404 `room_not_found`,
//! `thread_not_found`, `message_not_found`, `user_not_found`, `unknown_route`; 409
//! `already_reacted`. Errors are `{"error": code}`.
//!
//! Every request is recorded and wakes [`ToyChat::wait_until`], so a test waits for
//! what lucid did instead of sleeping; [`ToyChat::refused`] lists the requests it
//! refused, which lucid should never make.

mod server;

use crate::harness::DEADLINE;
use server::{Inner, Shared};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::Notify;

/// The longest message ToyChat takes, in characters.
pub const MAX_TEXT: usize = 1000;

/// A message as it stands now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ToyMessage {
    pub id: String,
    pub room: String,
    /// The first message of its thread; None for a thread's first message.
    pub thread: Option<String>,
    /// Who wrote it (a user id; the bot's is [`ToyChat::bot`]).
    pub author: String,
    pub text: String,
    /// Every text it has had, the posted one first; the last is `text`.
    pub history: Vec<String>,
}

impl ToyMessage {
    /// How many times it was edited.
    pub fn edits(&self) -> usize {
        self.history.len() - 1
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ToyReaction {
    pub room: String,
    pub message: String,
    pub emoji: String,
    pub user: String,
}

/// One request the fake answered.
#[derive(Clone, Debug)]
pub struct ToyRequest {
    pub method: String,
    pub path: String,
    pub token: Option<String>,
    pub body: String,
    pub status: u16,
    /// The error code, when refused.
    pub error: Option<String>,
}

pub struct ToyChat {
    /// `http://127.0.0.1:PORT`.
    pub origin: String,
    state: Arc<Shared>,
}

impl ToyChat {
    /// Starts the fake; it accepts `token` only, as the bot user `lucid`.
    pub async fn start(token: &str) -> ToyChat {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let origin = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Shared {
            token: token.to_owned(),
            bot: "lucid".to_owned(),
            inner: Mutex::new(Inner::default()),
            recorded: Notify::new(),
        });
        let app = axum::Router::new()
            .fallback(server::handle)
            .with_state(state.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        ToyChat { origin, state }
    }

    fn inner(&self) -> MutexGuard<'_, Inner> {
        self.state.inner()
    }

    /// The bot's user id.
    pub fn bot(&self) -> &str {
        &self.state.bot
    }

    pub fn add_room(&self, room: &str) {
        self.inner().rooms.insert(room.to_owned());
    }

    pub fn add_user(&self, id: &str, name: &str) {
        self.inner().users.insert(id.to_owned(), name.to_owned());
    }

    /// A message a person wrote (a new thread when `thread` is None). Returns its id.
    pub fn post_as(&self, user: &str, room: &str, thread: Option<&str>, text: &str) -> String {
        let mut inner = self.inner();
        assert!(inner.rooms.contains(room), "no room {room}");
        assert!(inner.users.contains_key(user), "no user {user}");
        inner.add_message(room, thread, user, text)
    }

    pub fn message(&self, id: &str) -> Option<ToyMessage> {
        self.inner().messages.iter().find(|m| m.id == id).cloned()
    }

    /// A thread: its first message and its replies, in order.
    pub fn thread(&self, room: &str, root: &str) -> Vec<ToyMessage> {
        self.inner()
            .messages
            .iter()
            .filter(|m| m.room == room && (m.id == root || m.thread.as_deref() == Some(root)))
            .cloned()
            .collect()
    }

    /// The bot's messages in a thread, in order.
    pub fn said_by_bot(&self, room: &str, root: &str) -> Vec<ToyMessage> {
        let bot = self.bot().to_owned();
        self.thread(room, root)
            .into_iter()
            .filter(|m| m.author == bot)
            .collect()
    }

    /// Every message, in order.
    pub fn messages(&self) -> Vec<ToyMessage> {
        self.inner().messages.clone()
    }

    pub fn reactions(&self) -> Vec<ToyReaction> {
        self.inner().reactions.clone()
    }

    pub fn requests(&self) -> Vec<ToyRequest> {
        self.inner().requests.clone()
    }

    /// The requests the fake refused (any 4xx): a well-behaved client makes none.
    pub fn refused(&self) -> Vec<ToyRequest> {
        self.inner()
            .requests
            .iter()
            .filter(|r| r.status >= 400)
            .cloned()
            .collect()
    }

    /// Waits until `f` returns Some, looking again after every request the fake
    /// answers; panics after the harness deadline naming `what` and listing requests.
    pub async fn wait_until<T>(&self, what: &str, f: impl Fn(&ToyChat) -> Option<T>) -> T {
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
                    "timed out after {DEADLINE:?} waiting for {what}; ToyChat saw:\n{}",
                    self.requests()
                        .iter()
                        .map(|r| format!(
                            "  {} {} -> {} {}",
                            r.method,
                            r.path,
                            r.status,
                            r.error.as_deref().unwrap_or("")
                        ))
                        .collect::<Vec<_>>()
                        .join("\n")
                );
            }
        }
    }
}
