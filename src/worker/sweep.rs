//! The sweep of pending ends: sessions that finished while their platform refused
//! the thread's last write, and whose lucid stopped or died before it landed. At start
//! and every half lease, this lucid claims each such end (under a hold like a
//! session's lease, so that a dead replica's ends are taken by one other replica
//! only) and writes it as the follower would have: with the same backoff, and the same
//! patience counted from the session's end.

use super::Worker;
use super::follower::Follower;
use crate::core::Timestamp;
use crate::store::{PendingEnd, Serves};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// The least time between two sweeps, whatever the lease.
const MIN_SWEEP_EVERY: Duration = Duration::from_millis(500);

impl Worker {
    /// Sweeps until `shutdown`; the ends being written then are let go for the next
    /// lucid.
    pub(super) async fn sweep_pending_ends(self: Arc<Self>, shutdown: CancellationToken) {
        // Ends are written in their platform's thread: no forge or agent needed.
        let serves = Serves {
            platforms: self.registry.platform_names(),
            forges: Vec::new(),
        };
        let every = (self.lease / 2).max(MIN_SWEEP_EVERY);
        let mut writing = JoinSet::new();
        loop {
            while let Some(pending) = self.claim_pending_end(&serves).await {
                let Some((follower, ended_at)) = self.follower_of(pending) else {
                    continue;
                };
                writing.spawn(follower.finish_pending(ended_at, shutdown.clone()));
            }
            while writing.try_join_next().is_some() {}
            tokio::select! {
                () = tokio::time::sleep(every) => {}
                () = shutdown.cancelled() => break,
            }
        }
        while writing.join_next().await.is_some() {}
    }

    async fn claim_pending_end(&self, serves: &Serves) -> Option<(PendingEnd, String)> {
        let holder = self.end_holder();
        match self
            .store
            .claim_pending_end(&holder, self.lease, Timestamp::now(), serves)
            .await
        {
            Ok(claimed) => claimed.map(|pending| (pending, holder)),
            Err(e) => {
                tracing::warn!(error = %e, "could not look for session ends left unwritten");
                None
            }
        }
    }

    /// The follower that writes a claimed end, and when the session ended.
    fn follower_of(
        &self,
        (pending, holder): (PendingEnd, String),
    ) -> Option<(Follower, Timestamp)> {
        let session = pending.session;
        // Claimed only for a platform served here.
        let platform = self.registry.platform(&session.trigger.platform())?.clone();
        let follower = Follower {
            platform,
            store: self.store.clone(),
            holds: self.registry.holds().clone(),
            session: session.id,
            thread: session.trigger.thread.clone(),
            session_url: self.session_url(session.id),
            holder,
            lease: self.lease,
        };
        Some((follower, pending.ended_at))
    }
}
