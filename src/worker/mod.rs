//! The worker: takes queued sessions from the store under a lease (so no two workers,
//! in this process or another replica, run one session) and runs each through the
//! [`driver`], its thread kept current by the [`follower`]. It
//! knows platforms, forges and agents only through the [`Registry`]: it claims only
//! sessions whose platform and forge this replica serves, so another session waits
//! queued for a replica that serves it (and the worker says so). At most
//! `max_sessions` run at once.

pub mod backoff;
pub mod driver;
mod end_hold;
pub mod follower;
mod going_back;
mod network;
mod prepare;
mod preview;
mod reasons;
mod session;
mod sweep;

use crate::core::{Platform, SessionId, Timestamp};
use crate::registry::Registry;
use crate::sandbox::{SandboxSpec, Sandboxes};
use crate::store::{Serves, Store};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

/// How often the worker says that sessions wait for a platform it does not serve.
const UNSERVED_NOTICE_EVERY: Duration = Duration::from_secs(60);

/// How long a stopping lucid waits for its running sessions to wind down before it
/// leaves them: one stuck on a platform that stopped answering must not hold the
/// process (an orchestrator kills it anyway, Kubernetes after 30 s). A session left
/// is taken over when its lease runs out, like one whose lucid died.
const STOP_GRACE: Duration = Duration::from_secs(20);

pub struct Worker {
    pub store: Store,
    pub sandboxes: Arc<dyn Sandboxes>,
    pub spec: SandboxSpec,
    pub registry: Arc<Registry>,
    /// Builds the session links the threads show.
    pub links: crate::web::Links,
    pub owner: String,
    pub max_sessions: usize,
    /// How long a claim holds without renewal; renewed every third of it.
    pub lease: Duration,
    /// Whether a session out of budget with changes opens a draft change request.
    pub draft_on_budget: bool,
}

impl Worker {
    /// Claims and runs sessions until `shutdown`; running sessions are stopped then.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        // A run's writes wait out an outage of the store while its lease surely holds.
        self.store.wait_out_outages_for(self.lease / 2);
        // Ends of sessions left unwritten by a lucid that stopped or died.
        let sweep = tokio::spawn(self.clone().sweep_pending_ends(shutdown.clone()));
        let slots = Arc::new(Semaphore::new(self.max_sessions));
        let mut news = self.store.watch_all();
        let mut running = tokio::task::JoinSet::new();
        let served = self.served();
        let mut unserved_noticed: Option<tokio::time::Instant> = None;
        loop {
            let slot = tokio::select! {
                slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
                () = shutdown.cancelled() => break,
            };
            match self
                .store
                .claim_next(&self.owner, self.lease, Timestamp::now(), &served)
                .await
            {
                Ok(Some(session)) => {
                    let worker = self.clone();
                    let stop = shutdown.child_token();
                    running.spawn(async move {
                        worker.run_session(session, stop).await;
                        drop(slot);
                    });
                    continue;
                }
                Ok(None) => {}
                Err(e) => tracing::error!(error = %e, "could not claim a session"),
            }
            drop(slot);
            if unserved_noticed.is_none_or(|at| at.elapsed() >= UNSERVED_NOTICE_EVERY) {
                self.notice_unserved(&served).await;
                unserved_noticed = Some(tokio::time::Instant::now());
            }
            // Nothing queued: wait for news (a new session here, or one recorded by
            // another replica, caught by the watch's re-read).
            tokio::select! {
                () = news.changed() => {}
                () = shutdown.cancelled() => break,
            }
        }
        let wound_down = tokio::time::timeout(STOP_GRACE, async {
            while running.join_next().await.is_some() {}
        })
        .await;
        if wound_down.is_err() {
            tracing::warn!(
                left = running.len(),
                "sessions did not wind down in time; left for a lucid to take over when their lease runs out"
            );
            running.abort_all();
        }
        let _ = sweep.await;
    }

    /// What this worker can run: a session needs its platform's thread, its forge and
    /// an agent.
    pub fn served(&self) -> Serves {
        if self.registry.agent().is_none() {
            return Serves::default();
        }
        Serves {
            platforms: self.registry.platform_names(),
            forges: self.registry.forge_names(),
        }
    }

    /// Sessions wait, never dropped, when no part here can run them: say so.
    async fn notice_unserved(&self, served: &Serves) {
        match self.store.count_unserved(served).await {
            Ok(0) => {}
            Ok(waiting) => tracing::warn!(
                waiting,
                platforms = ?served.platforms.iter().map(Platform::as_str).collect::<Vec<_>>(),
                forges = ?served.forges,
                "sessions wait for a replica that serves their platform and forge, with a model"
            ),
            Err(e) => tracing::warn!(error = %e, "could not count waiting sessions"),
        }
    }

    /// A name for one follower's hold on a session's pending end: this lucid's,
    /// made unique, so that two followers here never take one for the other.
    fn end_holder(&self) -> String {
        format!("{}/{}", self.owner, uuid::Uuid::now_v7())
    }

    pub fn session_url(&self, id: SessionId) -> String {
        self.links.session(id)
    }
}
