//! One run of one session, from claimed to finished, the same for `lucid serve`'s
//! worker and `lucid run`: a sandbox, the repository checked out into it by the
//! forge, the agent's job, the work published, and the session's final state.

use super::going_back;
use super::network;
use super::prepare;
use super::preview::{self, PreviewDoor};
use super::reasons;
use crate::agent::{AgentRunner, Job, JobEnd, PermissionAnswer, Said, Start, StepLog};
use crate::core::digest::last_test;
use crate::core::{Event, EventBody, Session, SessionId, SessionState};
use crate::forge::checkpoint::Checkpoints;
use crate::forge::{Checkout, Forge, Report, Requester};
use crate::messages::TestRun;
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
    /// Who asked, as their platform names them, and that platform's name, for the
    /// change request (the link back to their conversation is asked for when it is
    /// published).
    pub asker: &'a str,
    pub asked_on: &'a str,
    /// The asker's linked forge account, when they linked one: the commits credit it.
    pub linked: Option<&'a crate::core::ForgeUser>,
    /// The platform of the session's thread, for its earlier words (none: `lucid run`).
    pub platform: Option<&'a dyn crate::chat::ChatPlatform>,
    /// Whether a run out of budget with changes opens a draft change request.
    pub draft_on_budget: bool,
    /// Where previews are opened (none: `lucid run` serves none).
    pub previews: Option<PreviewDoor<'a>>,
    /// Whether the checkpoints outlive the run, to go back to after it (`lucid run`
    /// has no after).
    pub keep_checkpoints: bool,
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
    let started = std::time::Instant::now();
    let ending = match work(parts, session, stop).await {
        Ok(ending) => ending,
        Err(e) => {
            // The whole chain in the log; in the thread, what a person can act on.
            let message = format!("{e:#}");
            let error = EventBody::Error {
                message: message.clone(),
            };
            let store = parts.store;
            let _ = store
                .outlasting(|| store.append_event(id, error.clone()))
                .await;
            Ending {
                state: SessionState::Failed,
                reason: Some(reasons::failure_reason(&e).unwrap_or(message)),
            }
        }
    };
    let store = parts.store;
    let (state, reason) = (ending.state, &ending.reason);
    let ended = store
        .outlasting(|| store.transition(id, state, reason.clone(), parts.lease_owner))
        .await;
    let final_state = ended.as_ref().ok().map(|s| s.state);
    crate::metrics::session_ended(parts.store, session, final_state, started).await;
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
    let store = parts.store;
    if session.state == SessionState::Queued {
        let provisioning = SessionState::Provisioning;
        store
            .outlasting(|| store.transition(id, provisioning, None, parts.lease_owner))
            .await?;
    }
    let history = store
        .outlasting(|| store.events_after(id, 0, u32::MAX))
        .await?;
    if session.state != SessionState::Queued {
        // Taken over: the dead worker's sandbox goes before this run's comes.
        if let Err(e) = parts.sandboxes.clear_leftovers(id).await {
            tracing::warn!(session = %id, error = %e, "could not remove the sandbox a dead run left");
        }
    }
    let sandbox = parts.sandboxes.create(id, parts.spec).await?;
    let reports = sandbox.network_log();
    let work = work_in(parts, session, &*sandbox, &history, stop);
    let result = network::logging_hosts(parts.store, id, reports, work).await;
    // The sandbox goes: so does its preview.
    if let Some(door) = &parts.previews {
        door.previews.close(id);
    }
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
    // Before checkpoint 0: the agent's first step starts from the prepared sandbox.
    prepare::prepare(parts.store, session, sandbox, &parts.spec.repo_setup, &stop).await?;
    let checkpoints = checkpoints_for(parts.store, sandbox.workspace().path(), id).await;
    let store = parts.store;
    store
        .outlasting(|| store.set_branch(id, &checkout.branch))
        .await?;
    if session.state != SessionState::Running {
        let running = SessionState::Running;
        store
            .outlasting(|| store.transition(id, running, None, parts.lease_owner))
            .await?;
    }
    let steps = StepLog {
        store: parts.store,
        session: id,
        checkpoints: checkpoints.as_ref(),
    };
    let mut start = start_of(session, history);
    if let (Start::Fresh { task }, Some(platform)) = (&mut start, parts.platform) {
        let earlier = platform
            .earlier_words(&session.trigger.thread, session.created_at)
            .await;
        if let Some(words) = crate::messages::earlier_words(&earlier) {
            task.push_str("\n\n");
            task.push_str(&words);
        }
    }
    // Asked of the finished session (which that took up again): done before it starts.
    for asked in going_back::unanswered(history) {
        going_back::go_back(&steps, sandbox.workspace(), &asked, |told| {
            if let Start::Resume { said, .. } = &mut start {
                said.push(told);
            }
        })
        .await?;
    }
    let (tx, inbox) = mpsc::unbounded_channel();
    let (answers_tx, answers) = mpsc::unbounded_channel();
    // From the history on: what came since is news to the agent (this run's own
    // events among it are passed over).
    let seen = history.last().map_or(0, |e| e.seq);
    let job = Job {
        session,
        sandbox,
        start,
        inbox,
        answers,
        steps,
        stop: stop.clone(),
    };
    let end = tokio::select! {
        biased;
        end = parts.agent.run(job) => end,
        () = follow_thread(&steps, sandbox, parts.previews.as_ref(), seen, (tx, answers_tx), stop) => {
            unreachable!("following the thread only ends with the job")
        }
    };
    if let Some(checkpoints) = checkpoints.as_ref().filter(|_| !parts.keep_checkpoints) {
        checkpoints.remove();
    }
    finish(parts, session, &checkout, end?).await
}

/// The work tree's checkpoints, in a git dir beside the workspaces (never inside one),
/// starting from the work tree as checked out; kept after the run, so that a finished
/// session can still go back. Without them (git failed) the agent's own tools still
/// log their diffs.
async fn checkpoints_for(
    store: &Store,
    work_tree: &std::path::Path,
    id: SessionId,
) -> Option<Checkpoints> {
    let root = work_tree.parent()?;
    prune_checkpoints(root);
    let checkpoints = Checkpoints::new(&root.join(format!(".{id}.checkpoints")), work_tree);
    match checkpoints.start().await {
        Ok(made) => {
            if made {
                let start = EventBody::Checkpoint {
                    number: 0,
                    label: "start".into(),
                    files: Vec::new(),
                };
                if let Err(e) = store.append_event(id, start).await {
                    tracing::warn!(session = %id, error = %e, "checkpoint 0 is not in the log");
                }
            }
            Some(checkpoints)
        }
        Err(e) => {
            tracing::warn!(session = %id, error = %e, "no checkpoints for this session");
            None
        }
    }
}

/// How long a session's checkpoints are kept after they last changed.
const CHECKPOINTS_KEPT_FOR: std::time::Duration = std::time::Duration::from_secs(7 * 24 * 3600);

/// Removes the checkpoint dirs under `root` untouched for longer than they are kept.
fn prune_checkpoints(root: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if !(name.starts_with('.') && name.ends_with(".checkpoints")) {
            continue;
        }
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|at| at.elapsed().ok())
            .is_some_and(|age| age > CHECKPOINTS_KEPT_FOR);
        if old && let Err(e) = std::fs::remove_dir_all(entry.path()) {
            tracing::warn!(error = %e, dir = %name, "could not prune old checkpoints");
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
    let ended = |state, reason| Ok(Ending { state, reason });
    let (summary, unfinished) = match end {
        JobEnd::Finished { summary } => (summary, None),
        JobEnd::Stopped => {
            let reason = Some(crate::messages::STOPPED_AS_ASKED.into());
            return ended(SessionState::Cancelled, reason);
        }
        JobEnd::Failed { reason } => return ended(SessionState::Failed, Some(reason)),
        // What was done goes up as a draft that says why it is one.
        JobEnd::OutOfBudget { reason } if parts.draft_on_budget => (String::new(), Some(reason)),
        JobEnd::OutOfBudget { reason } => return ended(SessionState::Failed, Some(reason)),
    };
    let (store, id) = (parts.store, session.id);
    let current = store
        .outlasting(|| store.session(id))
        .await?
        .unwrap_or_else(|| session.clone());
    let events = store
        .outlasting(|| async move {
            let mut events = Vec::new();
            store
                .catch_up_events(id, &mut events)
                .await
                .map(|()| events)
        })
        .await?;
    // Asked now, of the thread as it is now (a Discord session's thread is made after
    // the session).
    let link = match parts.platform {
        Some(platform) => platform.link_to(&current.trigger.thread).await,
        None => None,
    };
    let requester = Requester {
        linked: parts.linked,
        name: parts.asker,
        platform_title: parts.asked_on,
        conversation_url: link.as_deref(),
    };
    let report = Report {
        summary: &summary,
        requester: &requester,
        session_url: parts.session_url,
        last_test: last_test(&events).map(|(command, exit_code)| TestRun {
            command: command.to_owned(),
            exit_code,
        }),
        cost_micros: current.usage.cost_micros,
        unfinished: unfinished.as_deref(),
    };
    let published = parts.forge.publish(&current, checkout, &report).await?;
    if let Some(change) = published {
        store
            .outlasting(|| store.set_pr_url(id, &change.url))
            .await?;
        store
            .outlasting(|| store.link_thread(&change.thread, id))
            .await?;
        if current.pr_url.is_none() {
            let opened = EventBody::PrOpened {
                url: change.url,
                number: change.number,
            };
            store
                .outlasting(|| store.append_event(id, opened.clone()))
                .await?;
        }
    }
    match unfinished {
        Some(reason) => ended(SessionState::Failed, Some(reason)),
        None => ended(SessionState::Completed, Some(summary)),
    }
}

/// Follows the session's log while the agent works: what people say in the thread
/// (logged by the intake) goes to the agent, and a request to go back is done at once
/// and told to it. Never ends by itself.
async fn follow_thread(
    steps: &StepLog<'_>,
    sandbox: &dyn Sandbox,
    door: Option<&PreviewDoor<'_>>,
    mut seen: u64,
    (tx, answers): (
        mpsc::UnboundedSender<Said>,
        mpsc::UnboundedSender<PermissionAnswer>,
    ),
    stop: CancellationToken,
) {
    let (store, id) = (steps.store, steps.session);
    let mut news = store.watch(id);
    let mut opened = None;
    loop {
        if let Ok(events) = store.events_after(id, seen, 1000).await {
            for event in events {
                seen = event.seq;
                if let EventBody::UserMessage { author, text } = &event.body {
                    let _ = tx.send((author.clone(), text.clone()));
                }
                if let EventBody::PermissionAnswered {
                    author,
                    number,
                    allow,
                } = &event.body
                {
                    let _ = answers.send(PermissionAnswer {
                        author: author.clone(),
                        number: *number,
                        allow: *allow,
                    });
                }
                if let Some(asked) = going_back::Asked::from_event(&event.body) {
                    let tell = |told| {
                        let _ = tx.send(told);
                    };
                    if let Err(e) =
                        going_back::go_back(steps, sandbox.workspace(), &asked, tell).await
                    {
                        tracing::warn!(session = %id, error = %e, "going back failed");
                    }
                }
                if let EventBody::PreviewAsked { port, .. } = event.body {
                    let opening = preview::open(door, steps, sandbox, port, &mut opened);
                    if let Err(e) = opening.await {
                        tracing::warn!(session = %id, error = %e, "a preview could not be logged");
                    }
                }
            }
        }
        tokio::select! {
            () = stop.cancelled() => std::future::pending::<()>().await,
            () = news.changed() => {}
        }
    }
}
