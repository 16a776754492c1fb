//! "This session changed": the one way anything in lucid waits for a session's news
//! (new events, a new state). Writes in this process announce the session they touched
//! at once; writes by another replica are caught by re-reading every
//! [`REREAD_EVERY`], so a watcher never waits on news that will not be announced here.

use super::Store;
use crate::core::SessionId;
use std::time::Duration;
use tokio::sync::broadcast::{self, error::RecvError};

/// How often a watcher looks again without news: what another replica wrote is not
/// announced in this process.
pub const REREAD_EVERY: Duration = Duration::from_secs(1);

/// Waits for news of one session, or of any session.
pub struct Watch {
    announced: broadcast::Receiver<SessionId>,
    session: Option<SessionId>,
}

impl Store {
    /// News of `session`. Take it before the first read, so that nothing written in
    /// between is missed.
    pub fn watch(&self, session: SessionId) -> Watch {
        Watch {
            announced: self.inner.appended.subscribe(),
            session: Some(session),
        }
    }

    /// News of any session (a new one queued, one stopped, ...).
    pub fn watch_all(&self) -> Watch {
        Watch {
            announced: self.inner.appended.subscribe(),
            session: None,
        }
    }
}

impl Watch {
    /// Resolves when the watched session may have changed: announced news, news
    /// missed (the watcher fell behind), or [`REREAD_EVERY`] without any.
    pub async fn changed(&mut self) {
        let _ = tokio::time::timeout(REREAD_EVERY, self.announced()).await;
    }

    /// Resolves only on news announced in this process (or missed news).
    pub async fn announced(&mut self) {
        loop {
            match self.announced.recv().await {
                Ok(id) if self.session.is_none_or(|s| s == id) => return,
                Ok(_) => {}
                Err(RecvError::Lagged(_)) => return,
                Err(RecvError::Closed) => std::future::pending::<()>().await,
            }
        }
    }
}
