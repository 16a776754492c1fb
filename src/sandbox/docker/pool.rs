//! The warm pool: containers started ahead from the default spec, so a new session
//! gets one at once. A warm container goes to one session only, is renamed for it,
//! and is destroyed after it like any other; the pool refills in the background.

use super::{Container, DockerSandboxes, docker_error, labels};
use crate::core::SessionId;
use bollard::query_parameters::RenameContainerOptions;
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::{Mutex, Notify};

pub(super) struct Pool {
    size: usize,
    ready: Mutex<VecDeque<Arc<Container>>>,
    /// One refill at a time.
    refilling: AtomicBool,
    /// Set at shutdown: no more warm containers are made.
    closed: AtomicBool,
    /// Says a refill has ended.
    refilled: Notify,
}

impl Pool {
    pub fn new(size: usize) -> Self {
        Self {
            size,
            ready: Mutex::new(VecDeque::new()),
            refilling: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            refilled: Notify::new(),
        }
    }

    pub async fn contains(&self, container_id: &str) -> bool {
        self.ready.lock().await.iter().any(|c| c.id == container_id)
    }
}

impl DockerSandboxes {
    /// A warm container for `session`, if one is ready. Starts a refill either way.
    pub(super) async fn take_warm(&self, session: SessionId) -> Option<Arc<Container>> {
        let pool = &self.shared.pool;
        let taken = {
            let mut ready = pool.ready.lock().await;
            let taken = ready.pop_front();
            crate::metrics::sandbox_pool_ready(ready.len());
            taken
        };
        self.refill_in_background();
        let container = taken?;
        // Its name says whose it is now (labels cannot change after creation).
        let short = &container.id[..12.min(container.id.len())];
        let rename = RenameContainerOptions {
            name: format!("lucid-{session}-{short}"),
        };
        let docker = self.shared.engine.client().await.ok()?;
        match docker
            .rename_container(&container.id, rename)
            .await
            .map_err(docker_error)
        {
            Ok(()) if container.is_running(docker).await => Some(container),
            Ok(()) => {
                // Stopped while it waited: its engine restarted, so the others
                // went with it.
                tracing::warn!("discarding warm containers that stopped");
                let _ = container.destroy().await;
                self.discard_stopped_warm(docker).await;
                None
            }
            Err(e) => {
                // Gone or broken: not worth a session's trust.
                tracing::warn!(error = %e, "discarding a warm container");
                let _ = container.destroy().await;
                None
            }
        }
    }

    /// Destroys the warm containers that no longer run, and refills the pool.
    async fn discard_stopped_warm(&self, docker: &bollard::Docker) {
        let ready: Vec<_> = self.shared.pool.ready.lock().await.drain(..).collect();
        let mut live = Vec::new();
        for container in ready {
            if container.is_running(docker).await {
                live.push(container);
            } else {
                let _ = container.destroy().await;
            }
        }
        self.shared.pool.ready.lock().await.extend(live);
        self.refill_in_background();
    }

    /// Brings the pool up to its size now, and returns when it is full (or a
    /// container could not be made).
    pub async fn fill_pool(&self) {
        let pool = &self.shared.pool;
        let refill_ended = pool.refilled.notified();
        if pool.refilling.swap(true, Ordering::SeqCst) {
            // Someone else is refilling: their refill is this one.
            refill_ended.await;
            return;
        }
        while !pool.closed.load(Ordering::SeqCst) && pool.ready.lock().await.len() < pool.size {
            let spec = self.shared.settings.spec.clone();
            match self.start_container(&spec, labels::POOL_SESSION).await {
                Ok(container) => {
                    let mut ready = pool.ready.lock().await;
                    ready.push_back(container);
                    crate::metrics::sandbox_pool_ready(ready.len());
                }
                Err(e) => {
                    tracing::warn!(error = %e, "could not warm a sandbox; sessions start cold");
                    break;
                }
            }
        }
        pool.refilling.store(false, Ordering::SeqCst);
        pool.refilled.notify_waiters();
    }

    pub fn refill_in_background(&self) {
        if self.shared.pool.size == 0 {
            return;
        }
        let sandboxes = self.clone();
        crate::background::spawn(async move { sandboxes.fill_pool().await });
    }

    /// How many warm containers are ready now.
    pub async fn warm_count(&self) -> usize {
        self.shared.pool.ready.lock().await.len()
    }

    /// Stops refilling and destroys the warm containers (at shutdown: they would be
    /// orphans otherwise), after any refill under way has ended.
    pub async fn drain_pool(&self) {
        let pool = &self.shared.pool;
        pool.closed.store(true, Ordering::SeqCst);
        let refill_ended = pool.refilled.notified();
        if pool.refilling.load(Ordering::SeqCst) {
            refill_ended.await;
        }
        let drained: Vec<_> = pool.ready.lock().await.drain(..).collect();
        crate::metrics::sandbox_pool_ready(0);
        for container in drained {
            let _ = container.destroy().await;
        }
    }
}
