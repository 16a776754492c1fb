//! The GitHub thread of a session: one progress comment, posted when a run starts and
//! edited in place as the log grows, at most once per `edit_interval` (GitHub limits
//! content writes), and a last time when the run ends, so a session never ends
//! without its issue saying how.

use super::client::GithubClient;
use super::progress::{ProgressView, render};
use crate::core::{RepoName, SessionId, Timestamp};
use crate::store::Store;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// How often the comment is edited when only its elapsed time changed (GitHub limits
/// content writes to a few hundred an hour).
const CLOCK_REFRESH: Duration = Duration::from_secs(60);

pub struct ProgressComment {
    pub client: Arc<GithubClient>,
    pub store: Store,
    pub repo: RepoName,
    pub issue: u64,
    pub session: SessionId,
    pub session_url: String,
    pub edit_interval: Duration,
}

impl ProgressComment {
    /// Posts the comment, then keeps it current until `done` fires; then writes it
    /// one last time.
    pub async fn follow(self, done: tokio_util::sync::CancellationToken) {
        let mut announced = self.store.subscribe();
        let mut comment: Option<u64> = None;
        let mut shown = String::new();
        // The comment as last written, rendered with the clock at zero: a change of
        // the elapsed time alone is written only every `CLOCK_REFRESH`.
        let mut shown_key = String::new();
        // The log read so far; each edit reads only what was appended since.
        let mut events = Vec::new();
        let mut last_edit = Instant::now() - self.edit_interval;
        loop {
            let finishing = done.is_cancelled();
            let due = last_edit + self.edit_interval;
            if (finishing || Instant::now() >= due)
                && let Some((key, body)) = self.body(&mut events).await
                && (key != shown_key || last_edit.elapsed() >= CLOCK_REFRESH)
                && body != shown
            {
                match self.write(&mut comment, &body).await {
                    Ok(()) => (shown, shown_key) = (body, key),
                    Err(e) => {
                        tracing::warn!(session = %self.session, error = %e, "could not update the progress comment")
                    }
                }
                last_edit = Instant::now();
            }
            if finishing {
                return;
            }
            // Wake for this session's events, the end, or the next allowed edit.
            let wait = due.max(Instant::now() + Duration::from_millis(50));
            tokio::select! {
                () = done.cancelled() => {}
                () = tokio::time::sleep_until(wait) => {}
                _ = async {
                    loop {
                        match announced.recv().await {
                            Ok(id) if id == self.session => return,
                            Ok(_) => {}
                            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => return,
                            Err(_) => std::future::pending::<()>().await,
                        }
                    }
                } => {
                    // Something happened; write once the interval allows.
                    tokio::select! {
                        () = done.cancelled() => {}
                        () = tokio::time::sleep_until(due) => {}
                    }
                }
            }
        }
    }

    /// The comment now, and as it would read with the clock at zero.
    async fn body(&self, events: &mut Vec<crate::core::Event>) -> Option<(String, String)> {
        let session = self.store.session(self.session).await.ok()??;
        self.store
            .catch_up_events(self.session, events)
            .await
            .ok()?;
        // The comment shows this run.
        let run = crate::core::event::current_run(events);
        let view = |now| ProgressView {
            session: &session,
            events: run,
            now,
            session_url: &self.session_url,
        };
        Some((
            render(&view(session.created_at)),
            render(&view(Timestamp::now())),
        ))
    }

    async fn write(&self, comment: &mut Option<u64>, body: &str) -> anyhow::Result<()> {
        let api = self.client.repo(&self.repo).await?;
        match *comment {
            Some(id) => api.edit_comment(id, body).await?,
            None => {
                let id = api.comment(self.issue, body).await?;
                self.store
                    .set_thread_message(self.session, "progress", &id.to_string())
                    .await?;
                *comment = Some(id);
            }
        }
        Ok(())
    }
}
