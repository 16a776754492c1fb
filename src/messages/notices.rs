//! What lucid answers to a request: refusals, questions, and the words it logs for a
//! stop.

use super::Text;
use crate::core::{Author, Refusal, Timestamp};

/// Why a request was kept, not decided, for the platform's answer.
pub fn held_reason() -> &'static str {
    "the forge could not say whether the author may ask; the request is kept and decided once it answers"
}

/// A request given up: the forge never said whether its author may ask.
pub fn forge_never_answered(forge: &str) -> Text {
    Text::new().plain(format!(
        "I could not check with {forge} for a day whether you may ask for this, so I did \
         nothing. Ask again once {forge} answers."
    ))
}

/// Why lucid will not do what `who` asked.
pub fn refusal(refusal: &Refusal, who: &Author) -> Text {
    let to = Text::new().mention(who).plain(" ");
    match refusal {
        Refusal::CannotWrite { .. } => {
            to.plain("I only take requests from people who can write to this repository.")
        }
        Refusal::PersonNotListed => {
            to.plain("I only take requests from the people I was set up for.")
        }
        Refusal::PlaceNotListed => {
            to.plain("I only take requests in the channels I was set up for.")
        }
        Refusal::NotOurChangeRequest => to.plain(
            "I only continue pull requests I opened; mention me on an issue to start a task.",
        ),
        Refusal::NoTask => to
            .plain("What should I do? Mention me with a task, and the repository (")
            .code("owner/repo")
            .plain(") unless this channel has one."),
        Refusal::UnknownAgent { agent, known } => {
            let mut text = to
                .plain("There is no agent called ")
                .code(agent)
                .plain(" here. Ask for one of: ");
            for (i, id) in known.iter().enumerate() {
                if i > 0 {
                    text = text.plain(", ");
                }
                text = text.code(id);
            }
            text.plain(".")
        }
        Refusal::TooManyRunning { running } => to.plain(format!(
            "You have {} running; ask again when one ends.",
            sessions(*running)
        )),
        Refusal::PlaceBusy { running } => to.plain(format!(
            "{} running here; ask again when one ends.",
            match running {
                1 => "1 session is".to_owned(),
                n => format!("{n} sessions are"),
            }
        )),
        Refusal::TooManyNew { started, again_at } => to.plain(format!(
            "You have asked for {} in the last hour; ask again after {}.",
            sessions_new(*started),
            clock(*again_at)
        )),
        Refusal::NotLinked { forge } => super::not_linked(to, forge),
        Refusal::LinkExpired { forge } => super::link_expired(to, forge),
        Refusal::LinkUnreadable => super::link_unreadable(to),
        Refusal::LinkedCannotWrite { repo, forge, login } => {
            super::linked_cannot_write(to, repo, forge, login)
        }
    }
}

fn sessions(n: u32) -> String {
    match n {
        1 => "1 session".to_owned(),
        n => format!("{n} sessions"),
    }
}

fn sessions_new(n: u32) -> String {
    match n {
        1 => "1 new session".to_owned(),
        n => format!("{n} new sessions"),
    }
}

/// A time of day as people read it, `14:32 UTC`, rounded up to the minute (so that
/// "after" it is never too early).
pub fn clock(at: Timestamp) -> String {
    let minute = 60_000;
    let millis = at.as_millis().div_euclid(minute) * minute
        + if at.as_millis().rem_euclid(minute) > 0 {
            minute
        } else {
            0
        };
    let minutes_of_day = millis.div_euclid(minute).rem_euclid(24 * 60);
    format!("{:02}:{:02} UTC", minutes_of_day / 60, minutes_of_day % 60)
}

/// The short reason a refusal gives the platform (its HTTP answer, the logs).
pub fn refusal_reason(refusal: &Refusal) -> String {
    match refusal {
        Refusal::CannotWrite { repo } => format!("the author may not write to {repo}"),
        Refusal::PersonNotListed => "the author is not among lucid's people".into(),
        Refusal::PlaceNotListed => "the place is not among lucid's channels".into(),
        Refusal::NotOurChangeRequest => "not a pull request lucid opened".into(),
        Refusal::NoTask => "a mention without a task".into(),
        Refusal::UnknownAgent { agent, known } => format!(
            "there is no agent called {agent:?} here; ask for one of: {}",
            known.join(", ")
        ),
        Refusal::TooManyRunning { running } => {
            format!("the author has {running} sessions running, their limit")
        }
        Refusal::PlaceBusy { running } => {
            format!("the place has {running} sessions running, its limit")
        }
        Refusal::TooManyNew { started, again_at } => format!(
            "the author asked for {started} new sessions in the last hour, their limit; \
             the next may start at {again_at}"
        ),
        Refusal::NotLinked { forge } => format!("the author has no linked {forge} account"),
        Refusal::LinkExpired { forge } => {
            format!("{forge} refused the token of the author's linked account")
        }
        Refusal::LinkUnreadable => {
            "the author's linked account was stored under another LUCID_SECRET_KEY".into()
        }
        Refusal::LinkedCannotWrite { repo, login, .. } => {
            format!("the author's linked account {login} may not write to {repo}")
        }
    }
}

/// lucid needs a repository before it can start.
pub fn which_repository(who: &Author) -> Text {
    Text::new()
        .mention(who)
        .plain(" Which repository should I work in? Answer here with ")
        .code("owner/repo")
        .plain(" or its link.")
}

/// Why a session was stopped, kept as its reason (rendered where it was said).
pub fn stopped_by(who: &Author) -> Text {
    Text::new().plain("stopped by ").mention(who)
}

/// What a task typed as a command said, posted so that the session has a thread.
pub fn asked(who: &Author, task: &str) -> Text {
    Text::new().mention(who).plain(" asked: ").plain(task)
}

/// How to use the command, to someone who typed it with nothing to do.
pub fn command_usage(command: &str) -> Text {
    Text::new()
        .plain("Tell me what to do: ")
        .code(format!("{command} fix the flaky login test in acme/web"))
        .plain(".")
}

/// How to stop a session, to someone who typed "stop" as a command.
pub fn how_to_stop() -> Text {
    Text::new()
        .plain("To stop a session, press Stop on its status message or say ")
        .code("stop")
        .plain(" to me in its thread.")
}

/// A workspace lucid was not set up for.
pub fn workspace_not_set_up() -> Text {
    Text::new().plain("This workspace is not set up to use lucid.")
}

/// Someone not among lucid's people pressed Stop.
pub fn may_not_stop() -> Text {
    Text::new().plain("Only the people I was set up for can stop a session.")
}

/// lucid could not post in a place, and how to let it.
pub fn cannot_post_here(why: &str, invite: &str) -> Text {
    Text::new()
        .plain(format!("I could not post here ({why}). Invite me with "))
        .code(invite)
        .plain(" and try again.")
}

/// A place lucid was not set up for (a Discord server not in its settings).
pub fn not_set_up_here() -> Text {
    Text::new().plain("I am not set up to work here.")
}

/// A repository named in a way lucid cannot read.
pub fn not_a_repository(named: &str) -> Text {
    Text::new()
        .code(named)
        .plain(" is not a repository I can read; name it as ")
        .code("owner/repo")
        .plain(" or by its link.")
}

/// A task page's first comment: lucid took the task, and where its work shows.
pub fn on_it(session: crate::core::SessionId, session_url: &str) -> Text {
    Text::new()
        .emoji("hammer_and_wrench")
        .plain(" On it. I keep this page's status current and comment here when something matters. Every step: ")
        .then(super::session_link(session, session_url))
        .plain(".")
}

/// A task page lucid could not read, said on the page when it can still be written.
pub fn cannot_read_page(why: &str) -> Text {
    Text::new()
        .emoji("x")
        .plain(" I could not read this page, so I did not start: ")
        .plain(super::shorten(why, 500))
}

/// The name of the thread a session lives in: its task's first line.
pub fn thread_name(task: &str) -> String {
    let line = super::one_line(task);
    let line = line.trim();
    if line.is_empty() {
        "lucid session".to_owned()
    } else {
        super::shorten(line, 100)
    }
}

/// What `/lucid` and its options are, as Discord shows them while it is typed.
pub const COMMAND_DESCRIPTION: &str = "Hand a coding task to lucid's agent";
pub const TASK_OPTION_DESCRIPTION: &str = "What to do";
pub const REPO_OPTION_DESCRIPTION: &str = "The repository, owner/repo or its link";
pub const AGENT_OPTION_DESCRIPTION: &str =
    "The agent to work with, by its id (else lucid's default)";
