//! lucid's own place: sessions started by hand through the API or its pages. A
//! session's thread is the session itself (`ThreadRef::Web`): its log is what people
//! read, so the platform writes nothing anywhere else. Who may read which page, and
//! the links lucid posts to them, are here too.

pub mod access;
pub mod links;
pub mod previews;

pub use access::Access;
pub use links::Links;
pub use previews::Previews;

use crate::chat::{ChatPlatform, Intake, Pacing, Rendered, StatusView};
use crate::config::Settings;
use crate::core::{Origin, Platform, ThreadRef};
use crate::messages::{Markup, PlainWords};
use crate::registry::{Context, Registry};
use async_trait::async_trait;
use std::sync::Arc;
use std::time::Duration;

pub struct WebPlatform;

/// Always there: any lucid with the API on can start a session by hand.
pub fn register(
    registry: &mut Registry,
    _settings: &Settings,
    _context: &Context,
) -> anyhow::Result<()> {
    registry.add_platform(Arc::new(WebPlatform));
    Ok(())
}

#[async_trait]
impl ChatPlatform for WebPlatform {
    fn platform(&self) -> Platform {
        Platform::WEB
    }

    fn title(&self) -> &'static str {
        "lucid"
    }

    /// Its people signed in with lucid's own secrets.
    fn holds_to_linked_accounts(&self) -> bool {
        false
    }

    /// Its requests come through the API's routes.
    fn routes(self: Arc<Self>, _intake: Intake) -> axum::Router {
        axum::Router::new()
    }

    fn markup(&self) -> &dyn Markup {
        &PlainWords
    }

    fn pacing(&self) -> Pacing {
        Pacing {
            edit_interval: Duration::from_secs(1),
            clock_refresh: Duration::from_secs(3_600),
            status_first: false,
            replies: None,
            reply_interval: Duration::ZERO,
        }
    }

    async fn acknowledge(&self, _origin: &Origin) -> anyhow::Result<()> {
        Ok(())
    }

    /// The session's log already holds everything its page shows.
    async fn say(&self, _thread: &ThreadRef, _rendered: &str) -> anyhow::Result<()> {
        Ok(())
    }

    fn render_status(&self, view: &StatusView) -> Rendered {
        Rendered::text(view.session.state.as_str())
    }

    async fn post_status(
        &self,
        thread: &ThreadRef,
        _rendered: &Rendered,
    ) -> anyhow::Result<String> {
        Ok(thread.key())
    }

    async fn update_status(
        &self,
        _thread: &ThreadRef,
        _id: &str,
        _rendered: &Rendered,
    ) -> anyhow::Result<()> {
        Ok(())
    }
}
