//! Notion's requests: webhook events checked ([`verify`]), read ([`parse_request`])
//! and kept in the inbox by the route; the inbox's reader and the poller turn pages
//! and comments into what lucid does ([`reader`]).

mod drain;
mod event;
pub mod poll;
pub mod reader;
pub mod route;
mod signature;
mod task;

pub use event::{Actor, ActorKind, Event, EventKind, NotionRequest, parse_request};
pub use signature::{SIGNATURE_HEADER, verify};
pub use task::{MAX_CONTENT_CHARS, task_text};

use crate::chat::Intake;
use crate::notion::NotionPlatform;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

pub fn routes(platform: Arc<NotionPlatform>, _intake: Intake) -> axum::Router {
    route::routes(platform)
}

/// Reads the inbox, and polls when polling is on, until `stop`.
pub fn listen(platform: Arc<NotionPlatform>, intake: Intake, stop: CancellationToken) {
    crate::background::spawn(drain::run(platform.clone(), intake.clone(), stop.clone()));
    if let Some(every) = platform.settings.poll_interval {
        crate::background::spawn(poll::run(platform, intake, stop, every));
    }
}
