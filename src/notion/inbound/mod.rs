//! Notion's webhook requests: their signature checked ([`verify`]), their body read
//! into what lucid acts on ([`parse_request`]).

mod event;
mod signature;
mod task;

pub use event::{Actor, ActorKind, Event, EventKind, NotionRequest, parse_request};
pub use signature::{SIGNATURE_HEADER, verify};
pub use task::{MAX_CONTENT_CHARS, task_text};
