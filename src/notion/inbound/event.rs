//! A webhook request's body: the one-time verification request, or an event. Events
//! carry ids only (lucid fetches the page or the comment); only the fields lucid uses
//! are required, so a field Notion adds or drops later loses no event.

use crate::chat::PayloadError;
use serde::Deserialize;

/// Who caused an event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    pub id: String,
    pub kind: ActorKind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ActorKind {
    Person,
    /// An integration: lucid's own writes come back as events authored by its bot.
    Bot,
    /// A kind Notion may add later.
    Other(String),
}

/// What happened, as far as lucid cares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// A page's properties changed (its status, maybe): which values, the event does
    /// not say.
    PropertiesUpdated { page: String },
    /// A comment was made on a page, or on a block of it.
    CommentCreated { comment: String, page: String },
    /// Anything else (content edits, pages made or moved, data-source changes).
    Other(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// The event's id: a retried delivery repeats it.
    pub id: String,
    pub kind: EventKind,
    pub authors: Vec<Actor>,
    pub attempt: u32,
}

impl Event {
    /// Whether `bot` (lucid's own bot user) is among the authors.
    pub fn authored_by(&self, bot: &str) -> bool {
        self.authors.iter().any(|a| a.id == bot)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NotionRequest {
    /// The subscription's one-time check: the operator pastes this token back into
    /// Notion, and it then signs every event.
    Verification {
        token: String,
    },
    Event(Event),
}

#[derive(Deserialize)]
struct RawEvent {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    authors: Vec<RawActor>,
    #[serde(default)]
    attempt_number: Option<u32>,
    entity: RawRef,
    #[serde(default)]
    data: Option<RawData>,
}

#[derive(Deserialize)]
struct RawActor {
    id: String,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Deserialize)]
struct RawRef {
    id: String,
}

#[derive(Deserialize)]
struct RawData {
    #[serde(default)]
    page_id: Option<String>,
}

/// Reads a webhook request (400 with the field at fault when it cannot be read).
pub fn parse_request(body: &[u8]) -> Result<NotionRequest, PayloadError> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| PayloadError::new(format!("not JSON: {e}")))?;
    if let Some(token) = value.get("verification_token") {
        let token = token.as_str().filter(|t| !t.is_empty()).ok_or_else(|| {
            PayloadError::new("a verification request whose verification_token is not a string")
        })?;
        return Ok(NotionRequest::Verification {
            token: token.to_owned(),
        });
    }
    let raw: RawEvent = serde_path_to_error::deserialize(value).map_err(|e| {
        PayloadError::new(format!(
            "not a Notion webhook event: {} (at {})",
            e.inner(),
            e.path()
        ))
    })?;
    let kind = match raw.kind.as_str() {
        "page.properties_updated" => EventKind::PropertiesUpdated {
            page: raw.entity.id,
        },
        "comment.created" => EventKind::CommentCreated {
            comment: raw.entity.id,
            page: raw
                .data
                .and_then(|d| d.page_id)
                .ok_or_else(|| PayloadError::new("a comment.created event without data.page_id"))?,
        },
        _ => EventKind::Other(raw.kind),
    };
    let authors = raw
        .authors
        .into_iter()
        .map(|a| Actor {
            id: a.id,
            kind: match a.kind.as_str() {
                "person" => ActorKind::Person,
                "bot" => ActorKind::Bot,
                _ => ActorKind::Other(a.kind),
            },
        })
        .collect();
    Ok(NotionRequest::Event(Event {
        id: raw.id,
        kind,
        authors,
        attempt: raw.attempt_number.unwrap_or(1),
    }))
}

#[cfg(test)]
mod tests;
