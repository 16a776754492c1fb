//! What a request means for its thread: one pure function for every platform, so a
//! mention says the same thing on GitHub, in Slack and wherever lucid goes next.

use super::ids::{RepoRef, SessionId};
use super::intent::{
    AccountAsk, Ask, Intent, RevertTo, account_asked, permission_answered, preview_asked,
    revert_asked,
};
use super::limits::Busy;
use super::session::SessionState;
use super::time::Timestamp;
use super::trigger::Trigger;

/// What an empty follow-up says to the agent: go on.
pub const CARRY_ON: &str = "carry on";
/// What an empty remark in a thread is logged as.
pub const SAID_NOTHING: &str = "…";

/// The thread as it stands when the request comes in.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ThreadState {
    /// The session the thread belongs to, and its state.
    pub session: Option<(SessionId, SessionState)>,
    /// A request waiting in the thread for someone to name its repository.
    pub question: Option<Trigger>,
    /// How busy the person asking and the place are, when limits are set and the
    /// request could start a session (see [`limited`]).
    pub busy: Option<Busy>,
}

/// Whether the limits on sessions apply to `intent` in `thread`, and so whether the
/// counts are needed: a request that could start a session (its thread's session and
/// question aside), from a place (lucid's own pages and API have none, see
/// [`ThreadRef::place`](super::ThreadRef::place)). An answer to lucid's question
/// starts what was asked before, and is not counted again.
pub fn limited(intent: &Intent, thread: &ThreadState) -> bool {
    if thread.question.is_some() || intent.origin.thread.place().is_none() {
        return false;
    }
    match intent.ask {
        Ask::Task { .. } => intent.origin.addressed && thread.session.is_none(),
        Ask::Handover { .. } => thread.session.is_none_or(|(_, state)| state.is_terminal()),
        Ask::Stop | Ask::Permission { .. } => false,
    }
}

/// What the place allows, found out before deciding (allow-lists, the forge's
/// permission check): deciding does no I/O.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Policy {
    /// Why this person may not ask for work here, if they may not. Not kept with a
    /// held request: it is held only when nothing refused it before the forge.
    #[serde(skip)]
    pub refusal: Option<Refusal>,
    /// A new session may start in this thread (not, say, in a pull request lucid did
    /// not open).
    pub may_start: bool,
    /// The place's repository (a channel's), for a task that names none.
    pub default_repo: Option<RepoRef>,
}

impl Policy {
    /// Anyone may ask, and a session may start here.
    pub fn open() -> Policy {
        Policy {
            refusal: None,
            may_start: true,
            default_repo: None,
        }
    }
}

/// Why lucid says no, answered once in the thread.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The forge says the person may not write to the repository.
    CannotWrite { repo: RepoRef },
    /// The person is not among those lucid was set up for.
    PersonNotListed,
    /// The place (a channel) is not among those lucid was set up for.
    PlaceNotListed,
    /// A thread where lucid starts nothing: a change request it did not open.
    NotOurChangeRequest,
    /// lucid was mentioned with nothing to do.
    NoTask,
    /// The request asks for an agent this lucid does not have (`known`: those it has).
    UnknownAgent { agent: String, known: Vec<String> },
    /// The person has `running` sessions not yet finished, their limit.
    TooManyRunning { running: u32 },
    /// The place has `running` sessions not yet finished, its limit.
    PlaceBusy { running: u32 },
    /// The person asked for `started` new sessions in the last hour, their limit; one
    /// more may start at `again_at`.
    TooManyNew { started: u32, again_at: Timestamp },
    /// Requests here need a linked account on `forge` (its title, `GitHub`), and the
    /// person has none.
    NotLinked { forge: String },
    /// `forge` refused the person's linked account's token (revoked, expired).
    LinkExpired { forge: String },
    /// The person's linked account cannot be opened with this lucid's secret key.
    LinkUnreadable,
    /// The person's linked account `login` on `forge` may not write to the repository.
    LinkedCannotWrite {
        repo: RepoRef,
        forge: String,
        login: String,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub enum Decision {
    /// A new session for this trigger.
    Start(Trigger),
    /// Ask the thread which repository the trigger is for; it starts once someone
    /// names one.
    AskRepo(Trigger),
    /// Words for the running session's agent.
    FollowUp {
        session: SessionId,
        text: String,
    },
    /// Words that take a finished session up again.
    Resume {
        session: SessionId,
        text: String,
    },
    /// Words said in the thread without asking lucid: kept as context.
    Note {
        session: SessionId,
        text: String,
    },
    Stop {
        session: SessionId,
    },
    /// Take the session's work tree back to a checkpoint (a finished session is
    /// taken up again to do it).
    Revert {
        session: SessionId,
        to: RevertTo,
    },
    /// Answer the running agent's permission request `number` (none: the one that
    /// waits).
    AnswerPermission {
        session: SessionId,
        number: Option<u32>,
        allow: bool,
    },
    /// Publish a port of the session's sandbox as a live preview.
    Preview {
        session: SessionId,
        port: u16,
    },
    /// Link the person's forge account, or forget it.
    Account(AccountAsk),
    /// Say no, once.
    Refuse(Refusal),
    /// Nothing to do, and nothing to say (why, for the platform's answer and logs).
    Ignore(&'static str),
}

/// What `intent` means in a thread in `thread`'s state, under `policy`.
pub fn decide(intent: Intent, thread: &ThreadState, policy: &Policy) -> Decision {
    let addressed = intent.origin.addressed;
    if let Some(refusal) = &policy.refusal {
        return if addressed {
            Decision::Refuse(refusal.clone())
        } else {
            Decision::Ignore("not someone lucid takes requests from")
        };
    }
    if let Some(ask) = account(&intent) {
        return Decision::Account(ask);
    }
    if let Ask::Handover { .. } = intent.ask {
        return handover(intent, thread, policy);
    }
    if let Some((session, state)) = thread.session {
        return in_session(intent, session, state);
    }
    if let Some(waiting) = &thread.question {
        return answer_question(intent, waiting);
    }
    if !addressed {
        return Decision::Ignore("not a request to lucid, and not in a session's thread");
    }
    match intent.ask {
        Ask::Stop => Decision::Ignore("there is no session here to stop"),
        Ask::Permission { .. } => Decision::Ignore("there is no session here to answer"),
        Ask::Handover { .. } => unreachable!("a handover is decided by `handover`"),
        Ask::Task { .. } if !policy.may_start => Decision::Refuse(Refusal::NotOurChangeRequest),
        Ask::Task {
            ref text,
            whole: None,
            ..
        } if text.trim().is_empty() => Decision::Refuse(Refusal::NoTask),
        // Past a limit: nothing starts, and no repository is asked for.
        Ask::Task { .. } if let Some(refusal) = thread.busy.as_ref().and_then(Busy::refusal) => {
            Decision::Refuse(refusal)
        }
        Ask::Task {
            text,
            repo,
            title,
            whole,
            agent,
        } => {
            let repo = repo.or_else(|| policy.default_repo.clone());
            let asked_for_repo = repo.is_none();
            let trigger = Trigger {
                thread: intent.origin.thread,
                author: intent.origin.author,
                task: whole.unwrap_or(text),
                title,
                repo,
                delivery: intent.origin.delivery,
                agent,
            };
            if asked_for_repo {
                Decision::AskRepo(trigger)
            } else {
                Decision::Start(trigger)
            }
        }
    }
}

/// What the request asks of the person's linked forge account, if it is one: words
/// said to lucid ("login", "logout"), in any thread (they are never work for an
/// agent, so they never reach one).
pub fn account(intent: &Intent) -> Option<AccountAsk> {
    match &intent.ask {
        Ask::Task { text, .. } if intent.origin.addressed => account_asked(text),
        _ => None,
    }
}

/// Work handed over: a new session unless the thread's session is still at work (the
/// same hand-over seen again, or the page edited before lucid moved it on). A waiting
/// question is asked again, of the work as it is now.
fn handover(intent: Intent, thread: &ThreadState, policy: &Policy) -> Decision {
    if thread
        .session
        .is_some_and(|(_, state)| !state.is_terminal())
    {
        return Decision::Ignore("the thread's session is still at work");
    }
    let Intent { origin, ask } = intent;
    let Ask::Handover {
        task,
        repo,
        title,
        agent,
    } = ask
    else {
        unreachable!("only a handover is decided here")
    };
    let ask = Ask::Task {
        text: task,
        repo,
        title,
        whole: None,
        agent,
    };
    let fresh = ThreadState {
        busy: thread.busy.clone(),
        ..ThreadState::default()
    };
    decide(Intent { origin, ask }, &fresh, policy)
}

fn in_session(intent: Intent, session: SessionId, state: SessionState) -> Decision {
    match (intent.ask, intent.origin.addressed) {
        (Ask::Stop, true) => Decision::Stop { session },
        (Ask::Permission { .. }, _) if state.is_terminal() => {
            Decision::Ignore("the session is over: nothing waits for an answer")
        }
        (Ask::Permission { number, allow }, true) => Decision::AnswerPermission {
            session,
            number,
            allow,
        },
        (Ask::Task { text, .. }, true)
            if !state.is_terminal()
                && let Some((allow, number)) = permission_answered(&text) =>
        {
            Decision::AnswerPermission {
                session,
                number,
                allow,
            }
        }
        (Ask::Task { text, .. }, true) if let Some(to) = revert_asked(&text) => {
            Decision::Revert { session, to }
        }
        (Ask::Task { text, .. }, true) if let Some(port) = preview_asked(&text) => {
            Decision::Preview { session, port }
        }
        (Ask::Task { text, .. }, true) => {
            let text = or_default(text, CARRY_ON);
            if state.is_terminal() {
                Decision::Resume { session, text }
            } else {
                Decision::FollowUp { session, text }
            }
        }
        (Ask::Task { text, .. }, false) => Decision::Note {
            session,
            text: or_default(text, SAID_NOTHING),
        },
        (Ask::Stop, false) => Decision::Ignore("a stop not said to lucid"),
        (Ask::Permission { .. }, false) => Decision::Ignore("an answer not given to lucid"),
        (Ask::Handover { .. }, _) => unreachable!("a handover is decided by `handover`"),
    }
}

/// A message in a thread where lucid asked which repository: one that names it
/// starts the session that was asked for.
fn answer_question(intent: Intent, waiting: &Trigger) -> Decision {
    match intent.ask {
        Ask::Task {
            repo: Some(repo), ..
        } => Decision::Start(Trigger {
            repo: Some(repo),
            delivery: intent.origin.delivery,
            ..waiting.clone()
        }),
        _ => Decision::Ignore("the answer names no repository"),
    }
}

fn or_default(text: String, default: &str) -> String {
    if text.trim().is_empty() {
        default.to_owned()
    } else {
        text
    }
}

#[cfg(test)]
mod tests;
