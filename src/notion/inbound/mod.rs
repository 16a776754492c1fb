//! Notion's webhook requests, read into what lucid acts on.

mod event;

pub use event::{Actor, ActorKind, Event, EventKind, NotionRequest, parse_request};
