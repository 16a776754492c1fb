//! A chat platform lucid knows nothing of, built in the test crate from lucid's public
//! ports alone: the fake chat service ([`chat::ToyChat`]), lucid's side of it
//! ([`platform::ToyPlatform`], with its own markup and webhook route), and what a test
//! needs to speak as ToyChat. No line of `src/` names it.

pub mod chat;
pub mod inbound;
pub mod markup;
pub mod platform;
mod selftest;

use crate::harness::within;
use chat::ToyChat;
use lucid::core::RepoRef;
use platform::{ToyPlatform, ToySettings};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

/// The bot's token on ToyChat, and the webhook secrets (the old one still accepted).
pub const TOY_TOKEN: &str = "toy-bot-token-0123456789";
pub const TOY_SECRET: &str = "toy-webhook-secret-for-tests";
pub const OLD_TOY_SECRET: &str = "toy-old-secret";
/// A room whose repository is acme/calc, one with none, and one lucid is not in.
pub const ROOM: &str = "r-calc";
pub const BARE_ROOM: &str = "r-bare";
pub const OTHER_ROOM: &str = "r-other";
/// Ada may ask; Eve is not listed.
pub const ADA: &str = "ada";
pub const EVE: &str = "eve";

/// ToyChat with its rooms and people.
pub async fn toychat() -> ToyChat {
    let chat = ToyChat::start(TOY_TOKEN).await;
    for room in [ROOM, BARE_ROOM, OTHER_ROOM] {
        chat.add_room(room);
    }
    chat.add_user(ADA, "Ada Lovelace");
    chat.add_user(EVE, "Eve");
    chat
}

/// lucid's ToyChat platform, pointed at `chat`, working on `repo` in [`ROOM`].
pub fn toy_platform(chat: &ToyChat, repo: &str) -> Arc<ToyPlatform> {
    ToyPlatform::new(ToySettings {
        api_url: chat.origin.clone(),
        token: TOY_TOKEN.into(),
        secrets: vec![OLD_TOY_SECRET.into(), TOY_SECRET.into()],
        bot_user: chat.bot().to_owned(),
        rooms: vec![
            (ROOM.to_owned(), Some(RepoRef::parse(repo).unwrap())),
            (BARE_ROOM.to_owned(), None),
        ],
        users: vec![ADA.to_owned()],
        github_logins: vec![],
        edit_interval: Duration::from_millis(50),
    })
}

/// The delivery ToyChat sends when `message` (already in `chat`) was posted.
pub fn posted(chat: &ToyChat, event_id: &str, message: &str) -> Value {
    let m = chat
        .message(message)
        .unwrap_or_else(|| panic!("no message {message}"));
    let name = if m.author == ADA {
        "Ada Lovelace"
    } else {
        "Eve"
    };
    json!({
        "event_id": event_id,
        "type": "message.posted",
        "room": m.room,
        "message": {"id": m.id, "thread": m.thread, "user": {"id": m.author, "name": name}, "text": m.text},
    })
}

/// Posts a delivery to `{base}/webhooks/toy` with `secret` (none: no header).
pub async fn deliver(base: &str, secret: Option<&str>, body: Vec<u8>) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .post(format!("{base}/webhooks/toy"))
        .header("content-type", "application/json")
        .body(body);
    if let Some(secret) = secret {
        request = request.header(inbound::SECRET_HEADER, secret);
    }
    let response = within("the ToyChat webhook", request.send()).await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// Posts a delivery signed with the current secret.
pub async fn deliver_event(base: &str, event: &Value) -> (u16, Value) {
    deliver(base, Some(TOY_SECRET), serde_json::to_vec(event).unwrap()).await
}

/// The messages among `said` that link to `url`.
pub fn linking(said: &[chat::ToyMessage], url: &str) -> usize {
    said.iter()
        .filter(|m| m.text.contains(&format!("[url={url}]")))
        .count()
}
