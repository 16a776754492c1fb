//! The worker: takes queued sessions from the store under a lease (so no two workers,
//! in this process or another replica, run one session) and runs each: sandbox,
//! checkout, agent, publish, and the thread kept up to date. At most
//! `max_sessions` run at once; the rest wait queued.

mod session;

use crate::agent::engine::AgentSettings;
use crate::agent::llm::ChatModel;
use crate::core::{SessionId, Timestamp};
use crate::github::outbound::client::GithubClient;
use crate::github::outbound::forge::GithubForge;
use crate::sandbox::{DockerSandboxes, SandboxSpec};
use crate::store::Store;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

/// How long a claim holds without renewal; renewed every third of it.
pub const LEASE_TTL: Duration = Duration::from_secs(30);

/// GitHub, when it is configured: the forge every session publishes through, and
/// the thread of sessions that started in an issue.
pub struct GithubParts {
    pub client: Arc<GithubClient>,
    pub forge: GithubForge,
    pub edit_interval: Duration,
}

/// Slack, when it is configured: the thread of sessions that started there.
pub struct SlackParts {
    pub api: Arc<crate::slack::outbound::SlackApi>,
    pub status_messages: Arc<crate::slack::outbound::thread::StatusMessages>,
    pub edit_interval: Duration,
}

pub struct Worker {
    pub store: Store,
    pub sandboxes: Arc<DockerSandboxes>,
    pub spec: SandboxSpec,
    pub model: Arc<dyn ChatModel>,
    pub agent: AgentSettings,
    pub github: Option<GithubParts>,
    pub slack: Option<SlackParts>,
    pub public_url: String,
    pub owner: String,
    pub max_sessions: usize,
}

impl Worker {
    /// Claims and runs sessions until `shutdown`; running sessions are stopped then.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let slots = Arc::new(Semaphore::new(self.max_sessions));
        let mut announced = self.store.subscribe();
        let mut running = tokio::task::JoinSet::new();
        loop {
            let slot = tokio::select! {
                slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
                () = shutdown.cancelled() => break,
            };
            match self
                .store
                .claim_next(&self.owner, LEASE_TTL, Timestamp::now())
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
            // Nothing queued: wait for news (a new session here) or a second (one
            // recorded by another replica).
            tokio::select! {
                _ = announced.recv() => {}
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
                () = shutdown.cancelled() => break,
            }
        }
        while running.join_next().await.is_some() {}
    }

    pub fn session_url(&self, id: SessionId) -> String {
        format!("{}/api/v1/sessions/{id}", self.public_url)
    }
}
