//! Notion, as a platform lucid takes tasks from and reports to: a task page moved to
//! the trigger status becomes a session, and the page shows what happens (its status
//! In progress, comments at the moments that matter, then In review with the pull
//! request's URL, or the failed status with why).
//!
//! `inbound` takes webhook events (kept, then read after the answer) and polls the
//! task databases; `outbound` is what lucid writes (rich-text comments, the status and
//! PR properties); `api` is Notion's REST API through reqwest, paced to its limit.
//! [`NotionPlatform`] is the port it implements.

pub mod api;
pub mod doctor;
pub mod inbound;
pub mod outbound;
mod platform;

pub use platform::{NotionPlatform, bare_id, page_of};

use crate::config::Settings;
use crate::registry::{Context, Registry};
use std::sync::Arc;

/// Notion's platform, when Notion is configured. Learns the bot's user and the task
/// databases' data sources in the background.
pub fn register(
    registry: &mut Registry,
    settings: &Settings,
    context: &Context,
) -> anyhow::Result<()> {
    let Some(notion) = &settings.notion else {
        return Ok(());
    };
    let platform = Arc::new(NotionPlatform::new(notion.clone(), context.store.clone()));
    let starting = platform.clone();
    crate::background::spawn(async move {
        if let Err(e) = starting.bot().await {
            tracing::warn!(error = %e, "could not ask Notion who lucid is (GET /v1/users/me)");
        }
        let _ = starting.learn_sources().await;
    });
    registry.add_platform(platform);
    Ok(())
}
