//! A follower's hold on its session's pending end (the store's `pending_thread_ends`):
//! while one follower holds it, no other lucid writes that session's end, so a thread
//! gets its end once even when two lucids could each write it. The hold lasts a lease
//! and is renewed before each try of the last write and every third of a lease during
//! one; a hold that ran out may be claimed by another lucid's sweep, and is lost then.

use crate::core::{SessionId, Timestamp};
use crate::store::{Store, StoreError};
use std::time::Duration;

pub(super) struct EndHold<'a> {
    pub store: &'a Store,
    pub session: SessionId,
    /// This follower's name on the pending end.
    pub holder: &'a str,
    pub lease: Duration,
}

impl EndHold<'_> {
    /// Extends the hold; false when it is not this follower's any more.
    pub async fn renew(&self) -> Result<bool, StoreError> {
        self.store
            .hold_pending_end(self.session, self.holder, self.lease, Timestamp::now())
            .await
    }

    /// Renews the hold every third of a lease; returns only once it is lost. A store
    /// that does not answer is asked again sooner: the hold may still be kept.
    pub async fn until_taken(&self) {
        loop {
            tokio::time::sleep(self.lease / 3).await;
            loop {
                match self.renew().await {
                    Ok(true) => break,
                    Ok(false) => return,
                    Err(e) => {
                        tracing::warn!(session = %self.session, error = %e, "could not renew the hold on a session's pending end");
                        tokio::time::sleep(Duration::from_secs(1).min(self.lease / 3)).await;
                    }
                }
            }
        }
    }

    /// [`Self::until_taken`] of `hold`; never, without one.
    pub async fn taken(hold: Option<&EndHold<'_>>) {
        match hold {
            Some(hold) => hold.until_taken().await,
            None => std::future::pending().await,
        }
    }

    /// The end is in the thread, or was given up on.
    pub async fn clear(&self) {
        if let Err(e) = self
            .store
            .clear_pending_end(self.session, self.holder)
            .await
        {
            // Harmless but for one more, idempotent, write of the thread later.
            tracing::warn!(session = %self.session, error = %e, "could not clear a session's pending end");
        }
    }

    /// Lets another lucid (or this one, started again) write the end at once.
    pub async fn release(&self) {
        if let Err(e) = self
            .store
            .release_pending_end(self.session, self.holder)
            .await
        {
            tracing::warn!(session = %self.session, error = %e, "could not let go of a session's pending end");
        }
    }
}
