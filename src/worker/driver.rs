//! One run of one session, from claimed to finished, the same for `lucid serve`'s
//! worker and `lucid run`: a sandbox, the repository checked out into it by the
//! forge, the agent's job, the work published, and the session's final state.

use crate::agent::{AgentRunner, Job, JobEnd, Said, Start, StepLog};
use crate::core::{Event, EventBody, Session, SessionId, SessionState};
use crate::forge::checkpoint::Checkpoints;
use crate::forge::{Checkout, Forge, Requester};
use crate::sandbox::{Sandbox, SandboxSpec, Sandboxes};
use crate::store::Store;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// The parts one run uses.
pub struct Parts<'a> {
    pub store: &'a Store,
    pub sandboxes: &'a dyn Sandboxes,
    pub spec: &'a SandboxSpec,
    pub forge: &'a dyn Forge,
    pub agent: &'a dyn AgentRunner,
    /// The worker whose lease the run holds (None: no lease, as in `lucid run`).
    pub lease_owner: Option<&'a str>,
    pub session_url: &'a str,
    /// Who asked, for the change request.
    pub requester: Requester<'a>,
}

/// How a run ended, for the session's final state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ending {
    pub state: SessionState,
    pub reason: Option<String>,
}

/// Runs the session and moves it to its final state; answers how it ended. A stop
/// from outside (`stop`, or the session ended in the store) ends the agent's job.
pub async fn drive(parts: &Parts<'_>, session: &Session, stop: CancellationToken) -> Ending {
    let id = session.id;
    let ending = match work(parts, session, stop).await {
        Ok(ending) => ending,
        Err(e) => {
            let message = format!("{e:#}");
            let _ = parts
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
    let ended = parts
        .store
        .transition(id, ending.state, ending.reason.clone(), parts.lease_owner)
        .await;
    if let Err(e) = ended {
        // Already ended elsewhere (stopped from the thread) or taken over.
        tracing::info!(session = %id, reason = %e, "the session's end was decided elsewhere");
    }
    ending
}

async fn work(
    parts: &Parts<'_>,
    session: &Session,
    stop: CancellationToken,
) -> anyhow::Result<Ending> {
    let id = session.id;
    // A session taken over from a worker that died is past this already.
    if session.state == SessionState::Queued {
        parts
            .store
            .transition(id, SessionState::Provisioning, None, parts.lease_owner)
            .await?;
    }
    let history = parts.store.events_after(id, 0, u32::MAX).await?;
    let sandbox = parts.sandboxes.create(id, parts.spec).await?;
    let result = work_in(parts, session, &*sandbox, &history, stop).await;
    // The forge first, while the work tree is still there.
    parts.forge.clean_up(session);
    if let Err(e) = sandbox.destroy().await {
        tracing::warn!(session = %id, error = %e, "could not destroy a sandbox");
    }
    result
}

async fn work_in(
    parts: &Parts<'_>,
    session: &Session,
    sandbox: &dyn Sandbox,
    history: &[Event],
    stop: CancellationToken,
) -> anyhow::Result<Ending> {
    let id = session.id;
    let checkout = parts
        .forge
        .check_out(session, sandbox.workspace().path())
        .await?;
    sandbox.workspace().hand_over()?;
    let checkpoints = checkpoints_for(sandbox.workspace().path(), id).await;
    parts.store.set_branch(id, &checkout.branch).await?;
    if session.state != SessionState::Running {
        parts
            .store
            .transition(id, SessionState::Running, None, parts.lease_owner)
            .await?;
    }
    let (tx, inbox) = mpsc::unbounded_channel();
    let seen = history.last().map_or(0, |e| e.seq);
    let forwarder = tokio::spawn(forward_follow_ups(
        parts.store.clone(),
        id,
        seen,
        tx,
        stop.clone(),
    ));
    let job = Job {
        session,
        sandbox,
        start: start_of(session, history),
        inbox,
        steps: StepLog {
            store: parts.store,
            session: id,
            checkpoints: checkpoints.as_ref(),
        },
        stop,
    };
    let end = parts.agent.run(job).await;
    forwarder.abort();
    if let Some(checkpoints) = &checkpoints {
        checkpoints.remove();
    }
    finish(parts, session, &checkout, end?).await
}

/// The work tree's checkpoints, in a git dir beside the workspaces (never inside one),
/// starting from the work tree as checked out. Without them (git failed) the agent's
/// own tools still log their diffs.
async fn checkpoints_for(work_tree: &std::path::Path, id: SessionId) -> Option<Checkpoints> {
    let root = work_tree.parent()?;
    // A sibling of the workspace, removed whole when the work is over.
    let checkpoints = Checkpoints::new(&root.join(format!(".{id}.checkpoints")), work_tree);
    match checkpoints.start().await {
        Ok(()) => Some(checkpoints),
        Err(e) => {
            tracing::warn!(session = %id, error = %e, "no checkpoints for this session");
            None
        }
    }
}

/// Fresh the first time; a resume when the session ran before: it ended and was
/// queued again, or its worker died mid-run and this one took it over.
fn start_of(session: &Session, history: &[Event]) -> Start {
    let task = session.trigger.task.clone();
    let ended_before = history
        .iter()
        .rposition(|e| matches!(&e.body, EventBody::Status { state, .. } if state.is_terminal()));
    let taken_over = session.state == SessionState::Running;
    if ended_before.is_none() && !taken_over {
        return Start::Fresh { task };
    }
    let since = ended_before.map_or(0, |at| at + 1);
    Start::Resume {
        task,
        said: said_in(&history[since..]),
    }
}

fn said_in(events: &[Event]) -> Vec<Said> {
    events
        .iter()
        .filter_map(|e| match &e.body {
            EventBody::UserMessage { author, text } => Some((author.clone(), text.clone())),
            _ => None,
        })
        .collect()
}

async fn finish(
    parts: &Parts<'_>,
    session: &Session,
    checkout: &Checkout,
    end: JobEnd,
) -> anyhow::Result<Ending> {
    let summary = match end {
        JobEnd::Finished { summary } => summary,
        JobEnd::Stopped => {
            return Ok(Ending {
                state: SessionState::Cancelled,
                reason: Some(crate::messages::STOPPED_AS_ASKED.into()),
            });
        }
        JobEnd::Failed { reason } => {
            return Ok(Ending {
                state: SessionState::Failed,
                reason: Some(reason),
            });
        }
    };
    let current = parts
        .store
        .session(session.id)
        .await?
        .unwrap_or_else(|| session.clone());
    let published = parts
        .forge
        .publish(
            &current,
            checkout,
            &summary,
            &parts.requester,
            parts.session_url,
        )
        .await?;
    if let Some(change) = published {
        parts.store.set_pr_url(session.id, &change.url).await?;
        parts.store.link_thread(&change.thread, session.id).await?;
        if current.pr_url.is_none() {
            parts
                .store
                .append_event(
                    session.id,
                    EventBody::PrOpened {
                        url: change.url,
                        number: change.number,
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

/// Hands what people say in the thread (logged by the intake) to the running agent.
async fn forward_follow_ups(
    store: Store,
    id: SessionId,
    mut seen: u64,
    tx: mpsc::UnboundedSender<Said>,
    stop: CancellationToken,
) {
    let mut news = store.watch(id);
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
            () = news.changed() => {}
        }
    }
}
