//! One session in the worker: its thread followed, its lease kept, its run driven.

use super::Worker;
use super::driver::{self, Parts};
use super::follower::Follower;
use super::preview::PreviewDoor;
use crate::core::{Session, SessionState, Timestamp};
use crate::forge::{Forge, NoRepository};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How long a finished session keeps its worker slot for its thread's last write.
const LAST_WRITE_WAIT: Duration = Duration::from_secs(30);

impl Worker {
    pub(super) async fn run_session(
        self: Arc<Self>,
        session: Session,
        shutdown: CancellationToken,
    ) {
        let id = session.id;
        let platform = self.registry.platform(&session.trigger.platform()).cloned();
        let forge = match &session.trigger.repo {
            Some(repo) => self.registry.forge(repo.forge()).cloned(),
            // Claimed only with a platform served: the run fails, saying why.
            None => Some(Arc::new(NoRepository) as Arc<dyn Forge>),
        };
        let agent = self
            .registry
            .agent_for(session.trigger.agent.as_deref())
            .cloned();
        if agent.is_none() && platform.is_some() {
            // Asked for an agent this lucid no longer has (its settings changed).
            let asked = session.trigger.agent.as_deref().unwrap_or_default();
            let reason = crate::messages::agent_gone(asked);
            let _ = self
                .store
                .transition(id, SessionState::Failed, Some(reason), Some(&self.owner))
                .await;
            return;
        }
        let (Some(platform), Some(forge), Some(agent)) = (platform, forge, agent) else {
            // Claimed only when served: reaching here is a bug, said loudly.
            tracing::error!(session = %id, "claimed a session this worker cannot serve");
            return;
        };
        // Provisioning before the thread is first written: it must not say "waiting
        // for a free worker" once one has the session.
        let session = match session.state {
            SessionState::Queued => match self
                .store
                .transition(id, SessionState::Provisioning, None, Some(&self.owner))
                .await
            {
                Ok(provisioning) => provisioning,
                Err(e) => {
                    tracing::info!(session = %id, reason = %e, "a claimed session moved on elsewhere");
                    return;
                }
            },
            _ => session,
        };
        let done = CancellationToken::new();
        let url = self.session_url(id);
        let preview_url = self.links.preview(id);
        let follower = Follower {
            platform: platform.clone(),
            store: self.store.clone(),
            holds: self.registry.holds().clone(),
            session: id,
            thread: session.trigger.thread.clone(),
            session_url: url.clone(),
            holder: self.end_holder(),
            lease: self.lease,
        };
        let thread = tokio::spawn(follower.follow(done.clone(), shutdown.clone()));
        let stop = shutdown.child_token();
        let watch = tokio::spawn(
            self.clone()
                .watch(session.clone(), stop.clone(), done.clone()),
        );
        let name = platform.display_name(&session.trigger.author).await;
        // Read when the run starts: someone who unlinks meanwhile is still credited.
        let linked = match self.registry.accounts() {
            Some(accounts) => {
                let asker = &session.trigger.author.id;
                accounts.credit(&session.trigger.thread, asker).await
            }
            None => None,
        };
        let parts = Parts {
            store: &self.store,
            sandboxes: &*self.sandboxes,
            spec: &self.spec,
            forge: &*forge,
            agent: &*agent,
            lease_owner: Some(&self.owner),
            session_url: &url,
            asker: &name,
            asked_on: platform.title(),
            linked: linked.as_ref(),
            platform: Some(&*platform),
            draft_on_budget: self.draft_on_budget,
            keep_checkpoints: true,
            previews: Some(PreviewDoor {
                previews: self.registry.previews(),
                url: &preview_url,
            }),
        };
        driver::drive(&parts, &session, stop).await;
        done.cancel();
        let _ = watch.await;
        // The thread's last write, waited for while it goes through. While the
        // platform does not take it, it goes on being tried on its own (the handle
        // dropped), and the session's slot is free for the next one.
        let _ = tokio::time::timeout(LAST_WRITE_WAIT, thread).await;
    }

    /// Renews the lease while the session runs; stops the agent when the session is
    /// ended from outside (a stop in the thread) or the lease is lost.
    async fn watch(
        self: Arc<Self>,
        session: Session,
        stop: CancellationToken,
        done: CancellationToken,
    ) {
        let mut news = self.store.watch(session.id);
        let mut renew_at = tokio::time::Instant::now() + self.lease / 3;
        loop {
            tokio::select! {
                () = done.cancelled() => return,
                () = tokio::time::sleep_until(renew_at) => {
                    renew_at += self.lease / 3;
                    match self.store.renew_lease(session.id, &self.owner, self.lease, Timestamp::now()).await {
                        Ok(true) => {}
                        Ok(false) => { stop.cancel(); return; }
                        Err(e) => {
                            tracing::warn!(session = %session.id, error = %e, "could not renew a lease");
                            // Again in a second, not a third of a lease: the store
                            // may be back long before the lease runs out.
                            let soon = tokio::time::Instant::now() + std::time::Duration::from_secs(1);
                            renew_at = renew_at.min(soon);
                        }
                    }
                }
                () = news.changed() => {}
            }
            if let Ok(Some(now)) = self.store.session(session.id).await
                && now.state.is_terminal()
            {
                stop.cancel();
                return;
            }
        }
    }
}
