//! The decision table, once for every platform: each row a request, the thread it
//! lands in and the place's policy, and what it must mean.

use super::*;
use crate::core::intent::Origin;
use crate::core::{Author, Busy, DeliveryId, Limits, ThreadRef, Timestamp};
use SessionState::*;

fn thread() -> ThreadRef {
    ThreadRef::Slack {
        team: "T1".into(),
        channel: "C1".into(),
        thread_ts: "1.1".into(),
    }
}

fn ada() -> Author {
    Author {
        id: "U1".into(),
        display_name: "Ada".into(),
    }
}

fn repo(name: &str) -> RepoRef {
    RepoRef::parse(name).unwrap()
}

fn intent(ask: Ask, addressed: bool) -> Intent {
    Intent {
        origin: Origin {
            delivery: DeliveryId::parse("d2").unwrap(),
            thread: thread(),
            author: ada(),
            message: None,
            addressed,
        },
        ask,
    }
}

fn task(text: &str) -> Ask {
    Ask::task(text)
}

fn task_in(text: &str, name: &str) -> Ask {
    Ask::Task {
        text: text.into(),
        repo: Some(repo(name)),
        title: None,
        whole: None,
        agent: None,
    }
}

fn handover(text: &str, name: Option<&str>) -> Ask {
    Ask::Handover {
        task: text.into(),
        repo: name.map(repo),
        title: None,
        agent: None,
    }
}

/// An issue's mention: the words, and the whole task around them.
fn issue_task(text: &str) -> Ask {
    Ask::Task {
        text: text.into(),
        repo: Some(repo("acme/app")),
        title: Some("add() subtracts".into()),
        whole: Some(format!("Issue #7: add() subtracts\n\n{text}")),
        agent: None,
    }
}

fn trigger(text: &str, repo_name: Option<&str>, delivery: &str) -> Trigger {
    Trigger {
        thread: thread(),
        author: ada(),
        task: text.into(),
        title: None,
        repo: repo_name.map(repo),
        delivery: DeliveryId::parse(delivery).unwrap(),
        agent: None,
    }
}

fn session() -> SessionId {
    "01890000-0000-7000-8000-000000000001".parse().unwrap()
}

fn with_session(state: SessionState) -> ThreadState {
    ThreadState {
        session: Some((session(), state)),
        ..ThreadState::default()
    }
}

fn with_question() -> ThreadState {
    ThreadState {
        question: Some(trigger("fix the login test", None, "d1")),
        ..ThreadState::default()
    }
}

/// 12:00 UTC on 2026-01-01, when the counts are read.
const NOON: i64 = 1_767_268_800_000;

/// A thread, in `state` (None: a new one), where the person has `mine` sessions
/// running, the place `here`, and the person's newest sessions were made
/// `minutes_ago`; at most 2 running per person, 3 per place, 2 new an hour.
fn busy(state: Option<SessionState>, mine: u32, here: u32, minutes_ago: &[i64]) -> ThreadState {
    ThreadState {
        session: state.map(|state| (session(), state)),
        busy: Some(Busy {
            limits: Limits {
                running_per_person: 2,
                running_per_place: 3,
                new_per_person_hour: 2,
            },
            now: Timestamp::from_millis(NOON),
            person_running: mine,
            place_running: here,
            person_recent: minutes_ago
                .iter()
                .map(|m| Timestamp::from_millis(NOON - m * 60_000))
                .collect(),
        }),
        ..ThreadState::default()
    }
}

fn refusing(refusal: Refusal) -> Policy {
    Policy {
        refusal: Some(refusal),
        ..Policy::open()
    }
}

fn channel_repo(name: &str) -> Policy {
    Policy {
        default_repo: Some(repo(name)),
        ..Policy::open()
    }
}

fn no_start() -> Policy {
    Policy {
        may_start: false,
        ..Policy::open()
    }
}

#[test]
fn the_decision_table() {
    let s = session();
    let empty = ThreadState::default();
    let open = Policy::open();
    #[rustfmt::skip]
    let rows: Vec<(&str, Intent, ThreadState, Policy, Decision)> = vec![
        // A new thread.
        ("a task naming its repository starts",
            intent(task_in("fix it", "acme/app"), true), empty.clone(), open.clone(),
            Decision::Start(trigger("fix it", Some("acme/app"), "d2"))),
        ("a task in a place with a repository starts there",
            intent(task("fix it"), true), empty.clone(), channel_repo("acme/web"),
            Decision::Start(trigger("fix it", Some("acme/web"), "d2"))),
        ("the repository named beats the place's",
            intent(task_in("fix it", "acme/app"), true), empty.clone(), channel_repo("acme/web"),
            Decision::Start(trigger("fix it", Some("acme/app"), "d2"))),
        ("a task with no repository asks for one",
            intent(task("fix it"), true), empty.clone(), open.clone(),
            Decision::AskRepo(trigger("fix it", None, "d2"))),
        ("an issue's mention starts with the whole task and its title",
            intent(issue_task("please"), true), empty.clone(), open.clone(),
            Decision::Start(Trigger {
                title: Some("add() subtracts".into()),
                ..trigger("Issue #7: add() subtracts\n\nplease", Some("acme/app"), "d2")
            })),
        ("an issue's empty mention starts: the issue is the task",
            intent(issue_task(""), true), empty.clone(), open.clone(),
            Decision::Start(Trigger {
                title: Some("add() subtracts".into()),
                ..trigger("Issue #7: add() subtracts\n\n", Some("acme/app"), "d2")
            })),
        ("in a session's thread only the words go to the agent",
            intent(issue_task("also docs"), true), with_session(Running), open.clone(),
            Decision::FollowUp { session: s, text: "also docs".into() }),
        ("a mention with nothing to do is answered",
            intent(task("  "), true), empty.clone(), open.clone(),
            Decision::Refuse(Refusal::NoTask)),
        ("a stop with no session is ignored",
            intent(Ask::Stop, true), empty.clone(), open.clone(),
            Decision::Ignore("there is no session here to stop")),
        ("words not said to lucid start nothing",
            intent(task("fix it"), false), empty.clone(), open.clone(),
            Decision::Ignore("not a request to lucid, and not in a session's thread")),
        ("nothing starts where starting is not allowed",
            intent(task("fix it"), true), empty.clone(), no_start(),
            Decision::Refuse(Refusal::NotOurChangeRequest)),
        // Refusals.
        ("someone who may not write is refused",
            intent(task_in("fix it", "acme/app"), true), empty.clone(),
            refusing(Refusal::CannotWrite { repo: repo("acme/app") }),
            Decision::Refuse(Refusal::CannotWrite { repo: repo("acme/app") })),
        ("a refused stop is refused too",
            intent(Ask::Stop, true), with_session(Running), refusing(Refusal::PersonNotListed),
            Decision::Refuse(Refusal::PersonNotListed)),
        ("a refused person overheard is ignored, not answered",
            intent(task("hm"), false), with_session(Running), refusing(Refusal::PlaceNotListed),
            Decision::Ignore("not someone lucid takes requests from")),
        // A thread with a session.
        ("a mention in a running session's thread is a follow-up",
            intent(task("also the docs"), true), with_session(Running), open.clone(),
            Decision::FollowUp { session: s, text: "also the docs".into() }),
        ("a queued session gets follow-ups too",
            intent(task("also the docs"), true), with_session(Queued), open.clone(),
            Decision::FollowUp { session: s, text: "also the docs".into() }),
        ("an empty mention says carry on",
            intent(task(""), true), with_session(Running), open.clone(),
            Decision::FollowUp { session: s, text: CARRY_ON.into() }),
        ("a mention in a finished session's thread resumes it",
            intent(task("now the docs"), true), with_session(Completed), open.clone(),
            Decision::Resume { session: s, text: "now the docs".into() }),
        ("a failed session resumes as well",
            intent(task("try again"), true), with_session(Failed), open.clone(),
            Decision::Resume { session: s, text: "try again".into() }),
        ("words overheard in a session's thread are a note",
            intent(task("looks good"), false), with_session(Running), open.clone(),
            Decision::Note { session: s, text: "looks good".into() }),
        ("an empty note is kept as said",
            intent(task(""), false), with_session(Completed), open.clone(),
            Decision::Note { session: s, text: SAID_NOTHING.into() }),
        ("a stop said to lucid stops the session",
            intent(Ask::Stop, true), with_session(Running), open.clone(),
            Decision::Stop { session: s }),
        ("a stop stops a finished session's thread too (the store keeps it finished)",
            intent(Ask::Stop, true), with_session(Completed), open.clone(),
            Decision::Stop { session: s }),
        ("a stop not said to lucid does nothing",
            intent(Ask::Stop, false), with_session(Running), open.clone(),
            Decision::Ignore("a stop not said to lucid")),
        ("undo said to lucid goes back a step",
            intent(task("undo"), true), with_session(Running), open.clone(),
            Decision::Revert { session: s, to: RevertTo::LastStep }),
        ("revert to a step takes a finished session back too",
            intent(task("revert to step 2"), true), with_session(Completed), open.clone(),
            Decision::Revert { session: s, to: RevertTo::Checkpoint(2) }),
        ("preview said to lucid publishes a port",
            intent(task("preview 3000"), true), with_session(Running), open.clone(),
            Decision::Preview { session: s, port: 3000 }),
        ("allow said to lucid answers the waiting permission request",
            intent(task("allow"), true), with_session(Running), open.clone(),
            Decision::AnswerPermission { session: s, number: None, allow: true }),
        ("reject with a number answers that request",
            intent(task("reject 2"), true), with_session(Running), open.clone(),
            Decision::AnswerPermission { session: s, number: Some(2), allow: false }),
        ("a button answers a permission request",
            intent(Ask::Permission { number: Some(1), allow: true }, true), with_session(Running), open.clone(),
            Decision::AnswerPermission { session: s, number: Some(1), allow: true }),
        ("a button of a finished session answers nothing",
            intent(Ask::Permission { number: Some(1), allow: true }, true), with_session(Completed), open.clone(),
            Decision::Ignore("the session is over: nothing waits for an answer")),
        ("allow said to a finished session is words for it",
            intent(task("allow"), true), with_session(Completed), open.clone(),
            Decision::Resume { session: s, text: "allow".into() }),
        ("allow overheard is only a note",
            intent(task("allow"), false), with_session(Running), open.clone(),
            Decision::Note { session: s, text: "allow".into() }),
        ("a permission button with no session answers nothing",
            intent(Ask::Permission { number: None, allow: true }, true), ThreadState::default(), open.clone(),
            Decision::Ignore("there is no session here to answer")),
        ("undo overheard is only a note",
            intent(task("undo"), false), with_session(Running), open.clone(),
            Decision::Note { session: s, text: "undo".into() }),
        ("a session's thread takes follow-ups even where nothing may start",
            intent(task("more"), true), with_session(Running), no_start(),
            Decision::FollowUp { session: s, text: "more".into() }),
        // A thread where lucid asked which repository.
        ("an answer naming a repository starts what was asked",
            intent(task_in("acme/app please", "acme/app"), false), with_question(), open.clone(),
            Decision::Start(trigger("fix the login test", Some("acme/app"), "d2"))),
        ("an answer said to lucid starts it too",
            intent(task_in("acme/app", "acme/app"), true), with_question(), open.clone(),
            Decision::Start(trigger("fix the login test", Some("acme/app"), "d2"))),
        ("an answer naming no repository is ignored",
            intent(task("which one?"), false), with_question(), open.clone(),
            Decision::Ignore("the answer names no repository")),
        // Work handed over (a task page moved to the trigger status).
        ("a hand-over starts a session",
            intent(handover("fix it", Some("acme/app")), true), empty.clone(), open.clone(),
            Decision::Start(trigger("fix it", Some("acme/app"), "d2"))),
        ("a hand-over after the thread's session ended starts a new one, not a resume",
            intent(handover("fix it", Some("acme/app")), true), with_session(Completed), open.clone(),
            Decision::Start(trigger("fix it", Some("acme/app"), "d2"))),
        ("a hand-over seen while the thread's session is at work does nothing",
            intent(handover("fix it", Some("acme/app")), true), with_session(Queued), open.clone(),
            Decision::Ignore("the thread's session is still at work")),
        ("a hand-over with no repository asks which, even with a question waiting",
            intent(handover("fix it", None), true), with_question(), open.clone(),
            Decision::AskRepo(trigger("fix it", None, "d2"))),
        ("a hand-over from a refused person is refused",
            intent(handover("fix it", Some("acme/app")), true), empty.clone(),
            refusing(Refusal::PersonNotListed),
            Decision::Refuse(Refusal::PersonNotListed)),
        // Limits: on new sessions only.
        ("a task under every limit starts",
            intent(task_in("fix it", "acme/app"), true), busy(None, 1, 2, &[30]), open.clone(),
            Decision::Start(trigger("fix it", Some("acme/app"), "d2"))),
        ("a person at their running limit is told so, and nothing starts",
            intent(task_in("fix it", "acme/app"), true), busy(None, 2, 0, &[]), open.clone(),
            Decision::Refuse(Refusal::TooManyRunning { running: 2 })),
        ("a place at its running limit is told so",
            intent(task_in("fix it", "acme/app"), true), busy(None, 0, 3, &[]), open.clone(),
            Decision::Refuse(Refusal::PlaceBusy { running: 3 })),
        ("a person at the hour's limit is told when one more may start",
            intent(task_in("fix it", "acme/app"), true), busy(None, 0, 0, &[5, 20]), open.clone(),
            Decision::Refuse(Refusal::TooManyNew {
                started: 2,
                again_at: Timestamp::from_millis(NOON + 40 * 60_000),
            })),
        ("sessions older than the hour do not count",
            intent(task_in("fix it", "acme/app"), true), busy(None, 0, 0, &[5, 61]), open.clone(),
            Decision::Start(trigger("fix it", Some("acme/app"), "d2"))),
        ("past a limit no repository is asked for either",
            intent(task("fix it"), true), busy(None, 2, 0, &[]), open.clone(),
            Decision::Refuse(Refusal::TooManyRunning { running: 2 })),
        ("a hand-over past a limit is refused",
            intent(handover("fix it", Some("acme/app")), true), busy(Some(Completed), 0, 3, &[]), open.clone(),
            Decision::Refuse(Refusal::PlaceBusy { running: 3 })),
        ("a follow-up in a running session's thread is never limited",
            intent(task("also the docs"), true), busy(Some(Running), 9, 9, &[1, 2, 3]), open.clone(),
            Decision::FollowUp { session: s, text: "also the docs".into() }),
        ("a finished session's thread resumes whatever the limits",
            intent(task("again"), true), busy(Some(Completed), 9, 9, &[1, 2, 3]), open.clone(),
            Decision::Resume { session: s, text: "again".into() }),
        ("a stop is never limited",
            intent(Ask::Stop, true), busy(Some(Running), 9, 9, &[1, 2]), open.clone(),
            Decision::Stop { session: s }),
        ("an empty mention past a limit is asked for a task, not refused for the limit",
            intent(task(" "), true), busy(None, 9, 9, &[]), open.clone(),
            Decision::Refuse(Refusal::NoTask)),
        ("a person not listed is refused as such, whatever the counts",
            intent(task_in("fix it", "acme/app"), true), busy(None, 9, 9, &[]),
            refusing(Refusal::PersonNotListed),
            Decision::Refuse(Refusal::PersonNotListed)),
        ("words not said to lucid are ignored, not refused for a limit",
            intent(task("fix it"), false), busy(None, 9, 9, &[]), open.clone(),
            Decision::Ignore("not a request to lucid, and not in a session's thread")),
        ("a refused person cannot answer",
            intent(task_in("acme/app", "acme/app"), false), with_question(),
            refusing(Refusal::PersonNotListed),
            Decision::Ignore("not someone lucid takes requests from")),
    ];
    let mut failures = Vec::new();
    for (name, intent, state, policy, expected) in rows {
        let got = decide(intent, &state, &policy);
        if got != expected {
            failures.push(format!(
                "{name}:\n  expected {expected:?}\n  got      {got:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// `ask` with `agent` asked for outside its words.
fn asking(mut ask: Ask, chosen: &str) -> Ask {
    match &mut ask {
        Ask::Task { agent, .. } | Ask::Handover { agent, .. } => *agent = Some(chosen.into()),
        Ask::Stop | Ask::Permission { .. } => {}
    }
    ask
}

fn trigger_with(text: &str, repo_name: Option<&str>, chosen: Option<&str>) -> Trigger {
    Trigger {
        agent: chosen.map(str::to_owned),
        ..trigger(text, repo_name, "d2")
    }
}

#[test]
fn the_agent_asked_for_goes_with_a_new_session_only() {
    let open = Policy::open();
    let started = decide(
        intent(asking(task_in("fix it", "acme/app"), "gemini"), true),
        &ThreadState::default(),
        &open,
    );
    assert_eq!(
        started,
        Decision::Start(trigger_with("fix it", Some("acme/app"), Some("gemini")))
    );
    let asked = decide(
        intent(asking(task("fix it"), "gemini"), true),
        &ThreadState::default(),
        &open,
    );
    assert_eq!(
        asked,
        Decision::AskRepo(trigger_with("fix it", None, Some("gemini")))
    );
    let handed = decide(
        intent(asking(handover("fix it", Some("acme/app")), "claude"), true),
        &with_session(Completed),
        &open,
    );
    assert_eq!(
        handed,
        Decision::Start(trigger_with("fix it", Some("acme/app"), Some("claude")))
    );
    // The thread's session keeps its agent: the words go on, the choice does not.
    let followed = decide(
        intent(asking(task("and the docs"), "gemini"), true),
        &with_session(Running),
        &open,
    );
    assert_eq!(
        followed,
        Decision::FollowUp {
            session: session(),
            text: "and the docs".into()
        }
    );
    // An answer starts what was asked, with the agent it was asked with.
    let waiting = ThreadState {
        question: Some(trigger_with("fix the login test", None, Some("claude"))),
        ..ThreadState::default()
    };
    let answered = decide(
        intent(asking(task_in("acme/app", "acme/app"), "gemini"), true),
        &waiting,
        &open,
    );
    assert_eq!(
        answered,
        Decision::Start(trigger_with(
            "fix the login test",
            Some("acme/app"),
            Some("claude")
        ))
    );
}

#[test]
fn limits_are_counted_only_where_a_session_limited() {
    let open_thread = ThreadState::default();
    assert!(limited(&intent(task("fix it"), true), &open_thread));
    assert!(!limited(&intent(task("fix it"), false), &open_thread));
    assert!(!limited(&intent(Ask::Stop, true), &open_thread));
    assert!(!limited(
        &intent(task("more"), true),
        &with_session(Running)
    ));
    assert!(!limited(
        &intent(task("more"), true),
        &with_session(Completed)
    ));
    assert!(!limited(
        &intent(task_in("acme/app", "acme/app"), true),
        &with_question()
    ));
    let handed = intent(handover("fix it", Some("acme/app")), true);
    assert!(limited(&handed, &with_session(Completed)));
    assert!(!limited(&handed, &with_session(Running)));
    // lucid's own pages and API are not limited per person or place.
    let mut from_the_page = intent(task("fix it"), true);
    from_the_page.origin.thread = ThreadRef::Web { id: "s".into() };
    assert!(!limited(&from_the_page, &open_thread));
}

#[test]
fn login_and_logout_said_to_lucid_are_about_the_account_anywhere() {
    use crate::core::intent::AccountAsk;
    let open = Policy::open();
    for thread in [
        ThreadState::default(),
        with_session(Running),
        with_session(Completed),
        with_question(),
    ] {
        assert_eq!(
            decide(intent(task("login"), true), &thread, &open),
            Decision::Account(AccountAsk::Login)
        );
        assert_eq!(
            decide(intent(task("Log out."), true), &thread, &open),
            Decision::Account(AccountAsk::Logout)
        );
    }
    // Overheard, the word is a note in a session's thread, not a request.
    assert_eq!(
        decide(intent(task("login"), false), &with_session(Running), &open),
        Decision::Note {
            session: session(),
            text: "login".into()
        }
    );
    // Someone lucid takes no requests from cannot link an account either.
    assert_eq!(
        decide(
            intent(task("login"), true),
            &ThreadState::default(),
            &refusing(Refusal::PersonNotListed)
        ),
        Decision::Refuse(Refusal::PersonNotListed)
    );
}
