//! A session's run, measured when it ends.

use super::{OutcomeLabels, SERIES};
use crate::core::{Session, SessionState};
use crate::store::Store;
use std::time::Instant;

/// A worker's run of `session`, begun at `started`, is over. `ended`: the state the
/// run moved it to; None when its end was decided elsewhere (a stop in the thread
/// cancels it in the store), and then the store says how it ended. A run whose
/// session is still live was taken over by another worker: that worker counts it.
pub async fn session_ended(
    store: &Store,
    session: &Session,
    ended: Option<SessionState>,
    started: Instant,
) {
    let outcome = match ended {
        Some(state) => Some(state),
        None => match store.session(session.id).await {
            Ok(now) => now.map(|s| s.state),
            Err(e) => {
                tracing::debug!(session = %session.id, error = %e, "metrics: cannot read how a run ended");
                None
            }
        },
    };
    let Some(outcome) = outcome.filter(|s| s.is_terminal()) else {
        return;
    };
    SERIES
        .session_duration
        .get_or_create(&OutcomeLabels {
            platform: session.trigger.platform().as_str().to_owned(),
            outcome: outcome.as_str(),
        })
        .observe(started.elapsed().as_secs_f64());
}
