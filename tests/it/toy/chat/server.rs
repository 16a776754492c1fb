//! The fake's state and its one handler: every request is judged (token, route,
//! body, limits), answered, recorded, and wakes the waiters.

use super::{MAX_TEXT, ToyMessage, ToyReaction, ToyRequest};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::Notify;

pub(super) struct Shared {
    pub(super) token: String,
    pub(super) bot: String,
    pub(super) inner: Mutex<Inner>,
    pub(super) recorded: Notify,
}

#[derive(Default)]
pub(super) struct Inner {
    pub(super) rooms: HashSet<String>,
    /// id → name.
    pub(super) users: HashMap<String, String>,
    pub(super) messages: Vec<ToyMessage>,
    pub(super) reactions: Vec<ToyReaction>,
    pub(super) requests: Vec<ToyRequest>,
    next_id: u64,
}

impl Shared {
    pub(super) fn inner(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Inner {
    pub(super) fn add_message(
        &mut self,
        room: &str,
        thread: Option<&str>,
        author: &str,
        text: &str,
    ) -> String {
        self.next_id += 1;
        let id = format!("m{}", self.next_id);
        self.messages.push(ToyMessage {
            id: id.clone(),
            room: room.to_owned(),
            thread: thread.map(str::to_owned),
            author: author.to_owned(),
            text: text.to_owned(),
            history: vec![text.to_owned()],
        });
        id
    }

    fn message_mut(&mut self, room: &str, id: &str) -> Option<&mut ToyMessage> {
        self.messages
            .iter_mut()
            .find(|m| m.room == room && m.id == id)
    }
}

/// A refusal: its status and error code.
struct Refused(StatusCode, &'static str);

type Answer = Result<(StatusCode, Value), Refused>;

fn message_json(m: &ToyMessage) -> Value {
    json!({"id": m.id, "room": m.room, "thread": m.thread, "author": m.author, "text": m.text})
}

pub(super) async fn handle(
    State(state): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned);
    let answer = if token.as_deref() != Some(state.token.as_str()) {
        Err(Refused(StatusCode::UNAUTHORIZED, "invalid_token"))
    } else {
        state.route(&method, &path, &headers, &body)
    };
    let (status, body_out, error) = match answer {
        Ok((status, value)) => (status, value, None),
        Err(Refused(status, code)) => (status, json!({"error": code}), Some(code.to_owned())),
    };
    state.inner().requests.push(ToyRequest {
        method: method.to_string(),
        path,
        token,
        body: String::from_utf8_lossy(&body).into_owned(),
        status: status.as_u16(),
        error,
    });
    state.recorded.notify_waiters();
    (status, axum::Json(body_out)).into_response()
}

impl Shared {
    fn route(&self, method: &Method, path: &str, headers: &HeaderMap, body: &[u8]) -> Answer {
        let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
        let json_body = || -> Result<Value, Refused> {
            let is_json = headers
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("application/json"));
            match serde_json::from_slice::<Value>(body) {
                Ok(value @ Value::Object(_)) if is_json => Ok(value),
                _ => Err(Refused(StatusCode::BAD_REQUEST, "invalid_json")),
            }
        };
        match (method.as_str(), parts.as_slice()) {
            ("POST", ["api", "rooms", room, "messages"]) => self.post(room, &json_body()?),
            ("PATCH", ["api", "rooms", room, "messages", id]) => self.edit(room, id, &json_body()?),
            ("POST", ["api", "rooms", room, "messages", id, "reactions"]) => {
                self.react(room, id, &json_body()?)
            }
            ("GET", ["api", "users", id]) => self.user(id),
            _ => Err(Refused(StatusCode::NOT_FOUND, "unknown_route")),
        }
    }

    fn text(body: &Value) -> Result<String, Refused> {
        let text = body["text"].as_str().unwrap_or_default();
        if text.trim().is_empty() {
            return Err(Refused(StatusCode::BAD_REQUEST, "no_text"));
        }
        if text.chars().count() > MAX_TEXT {
            return Err(Refused(StatusCode::BAD_REQUEST, "message_too_long"));
        }
        Ok(text.to_owned())
    }

    fn room<'a>(inner: &Inner, room: &'a str) -> Result<&'a str, Refused> {
        if inner.rooms.contains(room) {
            Ok(room)
        } else {
            Err(Refused(StatusCode::NOT_FOUND, "room_not_found"))
        }
    }

    fn post(&self, room: &str, body: &Value) -> Answer {
        let mut inner = self.inner();
        Self::room(&inner, room)?;
        let thread = match &body["thread"] {
            Value::Null => None,
            Value::String(root) => {
                let is_root = inner
                    .messages
                    .iter()
                    .any(|m| m.room == room && &m.id == root && m.thread.is_none());
                if !is_root {
                    return Err(Refused(StatusCode::NOT_FOUND, "thread_not_found"));
                }
                Some(root.clone())
            }
            _ => return Err(Refused(StatusCode::BAD_REQUEST, "invalid_json")),
        };
        let text = Self::text(body)?;
        let id = inner.add_message(room, thread.as_deref(), &self.bot, &text);
        let message = inner.messages.iter().find(|m| m.id == id).unwrap();
        Ok((
            StatusCode::CREATED,
            json!({"message": message_json(message)}),
        ))
    }

    fn edit(&self, room: &str, id: &str, body: &Value) -> Answer {
        let mut inner = self.inner();
        Self::room(&inner, room)?;
        let text = Self::text(body)?;
        let bot = self.bot.clone();
        let message = inner
            .message_mut(room, id)
            .ok_or(Refused(StatusCode::NOT_FOUND, "message_not_found"))?;
        if message.author != bot {
            return Err(Refused(StatusCode::FORBIDDEN, "cant_edit_message"));
        }
        message.text = text.clone();
        message.history.push(text);
        Ok((StatusCode::OK, json!({"message": message_json(message)})))
    }

    fn react(&self, room: &str, id: &str, body: &Value) -> Answer {
        let mut inner = self.inner();
        Self::room(&inner, room)?;
        if inner.message_mut(room, id).is_none() {
            return Err(Refused(StatusCode::NOT_FOUND, "message_not_found"));
        }
        let emoji = body["emoji"].as_str().unwrap_or_default();
        let valid = !emoji.is_empty()
            && emoji
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !valid {
            return Err(Refused(StatusCode::BAD_REQUEST, "invalid_emoji"));
        }
        let reaction = ToyReaction {
            room: room.to_owned(),
            message: id.to_owned(),
            emoji: emoji.to_owned(),
            user: self.bot.clone(),
        };
        if inner.reactions.contains(&reaction) {
            return Err(Refused(StatusCode::CONFLICT, "already_reacted"));
        }
        inner.reactions.push(reaction);
        Ok((StatusCode::CREATED, json!({})))
    }

    fn user(&self, id: &str) -> Answer {
        let inner = self.inner();
        let name = inner
            .users
            .get(id)
            .ok_or(Refused(StatusCode::NOT_FOUND, "user_not_found"))?;
        Ok((StatusCode::OK, json!({"user": {"id": id, "name": name}})))
    }
}
