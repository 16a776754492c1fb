//! One run of one session, from claimed to finished.

use super::{LEASE_TTL, Worker};
use crate::agent::engine::{Agent, AgentEnd};
use crate::core::{EventBody, Session, SessionState, ThreadRef, Timestamp};
use crate::github::outbound::forge::Checkout;
use crate::github::outbound::thread::ProgressComment;
use crate::sandbox::{Sandbox, Sandboxes};
use crate::slack::outbound::thread::SlackThread;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// How a run ended, for the session's final state.
struct Ending {
    state: SessionState,
    reason: Option<String>,
}

impl Worker {
    pub(super) async fn run_session(
        self: Arc<Self>,
        session: Session,
        shutdown: CancellationToken,
    ) {
        let id = session.id;
        let done = CancellationToken::new();
        let thread = self.follow_thread(&session, done.clone());
        let stop = shutdown.child_token();
        let watch = tokio::spawn(
            self.clone()
                .watch(session.clone(), stop.clone(), done.clone()),
        );
        let ending = match self.work(&session, stop.clone()).await {
            Ok(ending) => ending,
            Err(e) => {
                let message = format!("{e:#}");
                let _ = self
                    .store
                    .append_event(
                        id,
                        EventBody::Error {
                            message: message.clone(),
                        },
                    )
                    .await;
                Ending {
                    state: SessionState::Failed,
                    reason: Some(message),
                }
            }
        };
        let ended = self
            .store
            .transition(id, ending.state, ending.reason, Some(&self.owner))
            .await;
        if let Err(e) = ended {
            // Already ended elsewhere (stopped from the thread) or taken over.
            tracing::info!(session = %id, reason = %e, "the session's end was decided elsewhere");
        }
        done.cancel();
        let _ = watch.await;
        if let Some(thread) = thread {
            let _ = thread.await;
        }
    }

    /// Starts the thread's progress display: the issue's progress comment, or the Slack
    /// thread's status message and replies.
    fn follow_thread(
        &self,
        session: &Session,
        done: CancellationToken,
    ) -> Option<tokio::task::JoinHandle<()>> {
        match (&session.trigger.thread, &self.github, &self.slack) {
            (ThreadRef::Github { repo, issue }, Some(github), _) => {
                let progress = ProgressComment {
                    client: github.client.clone(),
                    store: self.store.clone(),
                    repo: repo.clone(),
                    issue: *issue,
                    session: session.id,
                    session_url: self.session_url(session.id),
                    edit_interval: github.edit_interval,
                };
                Some(tokio::spawn(progress.follow(done)))
            }
            (
                ThreadRef::Slack {
                    channel, thread_ts, ..
                },
                _,
                Some(slack),
            ) => {
                let thread = SlackThread {
                    api: slack.api.clone(),
                    store: self.store.clone(),
                    status_messages: slack.status_messages.clone(),
                    channel: channel.clone(),
                    thread_ts: thread_ts.clone(),
                    thread_key: session.trigger.thread.key(),
                    session: session.id,
                    session_url: self.session_url(session.id),
                    edit_interval: slack.edit_interval,
                };
                Some(tokio::spawn(thread.follow(done)))
            }
            _ => None,
        }
    }

    /// Renews the lease while the session runs; stops the agent when the session is
    /// ended from outside (a stop in the thread) or the lease is lost.
    async fn watch(
        self: Arc<Self>,
        session: Session,
        stop: CancellationToken,
        done: CancellationToken,
    ) {
        let mut announced = self.store.subscribe();
        let mut renew_at = tokio::time::Instant::now() + LEASE_TTL / 3;
        loop {
            tokio::select! {
                () = done.cancelled() => return,
                () = tokio::time::sleep_until(renew_at) => {
                    renew_at += LEASE_TTL / 3;
                    match self.store.renew_lease(session.id, &self.owner, LEASE_TTL, Timestamp::now()).await {
                        Ok(true) => {}
                        Ok(false) => { stop.cancel(); return; }
                        Err(e) => tracing::warn!(session = %session.id, error = %e, "could not renew a lease"),
                    }
                }
                _ = announced.recv() => {}
                () = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
            }
            if let Ok(Some(now)) = self.store.session(session.id).await
                && now.state.is_terminal()
            {
                stop.cancel();
                return;
            }
        }
    }

    async fn work(&self, session: &Session, stop: CancellationToken) -> anyhow::Result<Ending> {
        let id = session.id;
        // A session taken over from a worker that died is past this already.
        if session.state == SessionState::Queued {
            self.store
                .transition(id, SessionState::Provisioning, None, Some(&self.owner))
                .await?;
        }
        let history = self.store.events_after(id, 0, u32::MAX).await?;
        let sandbox = self.sandboxes.create(id, &self.spec).await?;
        let result = self.work_in(session, &*sandbox, &history, stop).await;
        if let Err(e) = sandbox.destroy().await {
            tracing::warn!(session = %id, error = %e, "could not destroy a sandbox");
        }
        if let Some(github) = &self.github {
            github.forge.clean_up(session);
        }
        result
    }

    async fn work_in(
        &self,
        session: &Session,
        sandbox: &dyn Sandbox,
        history: &[crate::core::Event],
        stop: CancellationToken,
    ) -> anyhow::Result<Ending> {
        let id = session.id;
        let Some(github) = &self.github else {
            anyhow::bail!("GitHub is not configured, so there is no repository to work on");
        };
        let checkout = github
            .forge
            .check_out(session, sandbox.workspace().path())
            .await?;
        sandbox.workspace().hand_over()?;
        self.store.set_branch(id, &checkout.branch).await?;
        if session.state != SessionState::Running {
            self.store
                .transition(id, SessionState::Running, None, Some(&self.owner))
                .await?;
        }

        let (tx, inbox) = mpsc::unbounded_channel();
        let seen = history.last().map_or(0, |e| e.seq);
        let bridge = tokio::spawn(forward_follow_ups(
            self.store.clone(),
            id,
            seen,
            tx,
            stop.clone(),
        ));
        let agent = Agent {
            model: self.model.as_ref(),
            sandbox,
            store: &self.store,
            session: id,
            settings: &self.agent,
            inbox,
            stop: stop.clone(),
        };
        let resumed = self.store.conversation(id).await?.is_some();
        let end = if resumed {
            agent.resume(follow_ups_since_last_run(history)).await?
        } else {
            agent.run(&session.trigger.task).await?
        };
        bridge.abort();
        self.finish(session, &checkout, end).await
    }

    async fn finish(
        &self,
        session: &Session,
        checkout: &Checkout,
        end: AgentEnd,
    ) -> anyhow::Result<Ending> {
        let summary = match end {
            AgentEnd::Finished { summary } => summary,
            AgentEnd::Stopped => {
                return Ok(Ending {
                    state: SessionState::Cancelled,
                    reason: Some("stopped".into()),
                });
            }
            other => {
                return Ok(Ending {
                    state: SessionState::Failed,
                    reason: Some(other.describe()),
                });
            }
        };
        let github = self.github.as_ref().expect("checked before the run");
        let current = self
            .store
            .session(session.id)
            .await?
            .unwrap_or_else(|| session.clone());
        let pull = github
            .forge
            .publish(&current, checkout, &summary, &self.session_url(session.id))
            .await?;
        if let Some(pull) = pull {
            self.store.set_pr_url(session.id, &pull.html_url).await?;
            let pr_thread = ThreadRef::Github {
                repo: checkout.repo.clone(),
                issue: pull.number,
            };
            self.store.link_thread(&pr_thread, session.id).await?;
            if current.pr_url.is_none() {
                self.store
                    .append_event(
                        session.id,
                        EventBody::PrOpened {
                            url: pull.html_url,
                            number: pull.number,
                        },
                    )
                    .await?;
            }
        }
        Ok(Ending {
            state: SessionState::Completed,
            reason: Some(summary),
        })
    }
}

/// Hands what people say in the thread (logged by the webhook) to the running agent.
async fn forward_follow_ups(
    store: crate::store::Store,
    id: crate::core::SessionId,
    mut seen: u64,
    tx: mpsc::UnboundedSender<(String, String)>,
    stop: CancellationToken,
) {
    let mut announced = store.subscribe();
    loop {
        if let Ok(events) = store.events_after(id, seen, 1000).await {
            for event in events {
                seen = event.seq;
                if let EventBody::UserMessage { author, text } = event.body {
                    let _ = tx.send((author, text));
                }
            }
        }
        tokio::select! {
            () = stop.cancelled() => return,
            _ = announced.recv() => {}
            () = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
        }
    }
}

/// What people said since the session last ended: what a resumed run answers.
fn follow_ups_since_last_run(history: &[crate::core::Event]) -> Vec<(String, String)> {
    let start = history
        .iter()
        .rposition(|e| matches!(&e.body, EventBody::Status { state, .. } if state.is_terminal()))
        .map_or(0, |i| i + 1);
    history[start..]
        .iter()
        .filter_map(|e| match &e.body {
            EventBody::UserMessage { author, text } => Some((author.clone(), text.clone())),
            _ => None,
        })
        .collect()
}
