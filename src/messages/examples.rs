//! Every message lucid says, with example values: what the snapshot tests of each
//! platform's rendering go through, so a new sentence is seen on every platform.

use super::*;
use crate::core::digest::{Moment, Step};
use crate::core::{Author, Refusal, RepoRef, Session, SessionState, Timestamp};

/// Ada, who asks for work in the examples.
pub fn ada() -> Author {
    Author {
        id: "ada".into(),
        display_name: "Ada Lovelace".into(),
    }
}

/// `(name, message)` for every message, with example values.
pub fn catalogue() -> Vec<(&'static str, Text)> {
    let who = ada();
    let repo = RepoRef::parse("acme/app").expect("a repository name");
    let mut all = vec![
        (
            "refusal: cannot write",
            refusal(&Refusal::CannotWrite { repo }, &who),
        ),
        (
            "refusal: person not listed",
            refusal(&Refusal::PersonNotListed, &who),
        ),
        (
            "refusal: place not listed",
            refusal(&Refusal::PlaceNotListed, &who),
        ),
        (
            "refusal: not our change request",
            refusal(&Refusal::NotOurChangeRequest, &who),
        ),
        ("refusal: no task", refusal(&Refusal::NoTask, &who)),
        (
            "refusal: unknown agent",
            refusal(
                &Refusal::UnknownAgent {
                    agent: "gemnii".into(),
                    known: vec!["built-in".into(), "claude".into(), "gemini".into()],
                },
                &who,
            ),
        ),
        (
            "refusal: too many running",
            refusal(&Refusal::TooManyRunning { running: 3 }, &who),
        ),
        (
            "refusal: place busy",
            refusal(&Refusal::PlaceBusy { running: 10 }, &who),
        ),
        (
            "refusal: too many new",
            refusal(
                &Refusal::TooManyNew {
                    started: 10,
                    // 14:31:20 UTC: asking at 14:31:30 would be too early.
                    again_at: crate::core::Timestamp::from_millis(1_767_277_880_000),
                },
                &who,
            ),
        ),
        ("which repository", which_repository(&who)),
        ("stopped by", stopped_by(&who)),
        ("asked", asked(&who, "fix the <flaky> login test & more")),
        ("command usage", command_usage("/lucid")),
        ("how to stop", how_to_stop()),
        ("workspace not set up", workspace_not_set_up()),
        ("may not stop", may_not_stop()),
        ("not set up here", not_set_up_here()),
        ("not a repository", not_a_repository("acme app")),
        (
            "on it",
            on_it(
                "01890000-0000-7000-8000-000000000001"
                    .parse()
                    .expect("an id"),
                "http://lucid.test/sessions/s1",
            ),
        ),
        (
            "cannot read page",
            cannot_read_page("Notion has no block b1 that lucid can see"),
        ),
        (
            "thread name",
            Text::new().plain(thread_name("fix add()\nin calc.py")),
        ),
        ("thread name: no task", Text::new().plain(thread_name(""))),
        (
            "command description",
            Text::new().plain(COMMAND_DESCRIPTION),
        ),
        (
            "command option: task",
            Text::new().plain(TASK_OPTION_DESCRIPTION),
        ),
        (
            "command option: repo",
            Text::new().plain(REPO_OPTION_DESCRIPTION),
        ),
        (
            "command option: agent",
            Text::new().plain(AGENT_OPTION_DESCRIPTION),
        ),
        (
            "cannot post here",
            cannot_post_here("not_in_channel", "/invite @lucid"),
        ),
        (
            "moment: command failed",
            moment(
                &Moment::CommandFailed {
                    command: "python3 test_calc.py",
                    exit_code: 1,
                    output: "Traceback (most recent call last):\nAssertionError: add is broken",
                },
                "http://lucid.test/sessions/s1",
            ),
        ),
        (
            "moment: file edited",
            moment(
                &Moment::FileEdited {
                    path: "calc.py",
                    diff: "--- a/calc.py\n+++ b/calc.py\n@@ -1,2 +1,2 @@\n def add(a, b):\n-    return a - b\n+    return a + b\n",
                    seq: 7,
                },
                "http://lucid.test/sessions/s1",
            ),
        ),
        ("earlier steps", earlier_steps(3)),
        (
            "moment: preview opened",
            moment(
                &Moment::PreviewOpened {
                    port: 3000,
                    url: "http://lucid.test/preview/s1/?share=t",
                },
                "http://lucid.test/sessions/s1",
            ),
        ),
        (
            "moment: the agent asks leave",
            moment(
                &Moment::PermissionAsked {
                    number: 2,
                    title: "rm -rf build",
                    within_secs: 600,
                },
                "http://lucid.test/sessions/s1",
            ),
        ),
        ("may not answer", may_not_answer()),
        (
            "status: waiting for leave",
            waiting_for_permission("rm -rf build", 90),
        ),
        (
            "moment: no preview",
            moment(
                &Moment::PreviewRefused {
                    reason: &preview_needs_network(),
                },
                "http://lucid.test/sessions/s1",
            ),
        ),
        (
            "step: no preview",
            step(&Step::PreviewRefused {
                reason: &previews_not_served(),
            })
            .1,
        ),
        (
            "step: an edit in a checkpoint",
            step(&Step::Edit {
                path: "calc.py",
                added: 1,
                removed: 1,
                checkpoint: Some(3),
            })
            .1,
        ),
        (
            "step: went back",
            step(&Step::Reverted {
                checkpoint: 2,
                files: 1,
            })
            .1,
        ),
        (
            "step: could not go back",
            step(&Step::RevertRefused {
                reason: &no_such_step(9, 4),
            })
            .1,
        ),
        (
            "could not go back: nothing to undo",
            Text::new().plain(nothing_to_undo()),
        ),
        (
            "setup failed",
            Text::new().plain(setup_failed(
                "bash .lucid/setup.sh",
                &setup_ending(&crate::sandbox::Outcome::Exited(2)),
                "ERROR: No matching distribution found for requests==99",
            )),
        ),
        (
            "setup failed: no output",
            Text::new().plain(setup_failed(
                "bash .lucid/setup.sh",
                &setup_ending(&crate::sandbox::Outcome::OutOfMemory),
                "",
            )),
        ),
        (
            "could not go back: steps not kept",
            Text::new().plain(steps_not_kept()),
        ),
        ("ended: step limit", Text::new().plain(step_limit(40))),
        (
            "ended: token budget",
            Text::new().plain(token_budget(200_000)),
        ),
        (
            "ended: cost budget",
            Text::new().plain(cost_budget(2_500_000)),
        ),
        ("ended: stopped", Text::new().plain(STOPPED_AS_ASKED)),
    ];
    let opened = crate::core::digest::Digest {
        last_pr: Some((12, "https://github.com/acme/app/pull/12")),
        ..Default::default()
    };
    all.push((
        "ending: completed, the pull request opened before",
        ending(
            &example_session(SessionState::Completed),
            &crate::core::digest::Digest::default(),
        )
        .expect("an ending"),
    ));
    all.push((
        "ending: failed on a budget, with a draft",
        ending(&example_session(SessionState::Failed), &opened).expect("an ending"),
    ));
    for state in SessionState::ALL {
        let session = example_session(state);
        let digest = match state {
            SessionState::Completed => opened.clone(),
            _ => crate::core::digest::Digest::default(),
        };
        let name = state.as_str();
        all.push((
            leak(format!("headline: {name}")),
            headline(
                &session,
                &digest,
                session.created_at.plus(std::time::Duration::from_secs(65)),
            ),
        ));
        if let Some(doing) = now_doing(&session, &digest) {
            all.push((leak(format!("now doing: {name}")), doing));
        }
        if let Some(end) = ending(&session, &digest) {
            all.push((leak(format!("ending: {name}")), end));
        }
    }
    all
}

/// A session in `state` with a repository, some spending, and an ending where it has
/// one.
pub fn example_session(state: SessionState) -> Session {
    let trigger = crate::core::Trigger {
        thread: crate::core::ThreadRef::Web { id: "w1".into() },
        author: ada(),
        task: "fix add()".into(),
        title: None,
        repo: Some(RepoRef::parse("acme/app").expect("a repository name")),
        delivery: crate::core::DeliveryId::parse("d1").expect("a delivery id"),
        agent: None,
    };
    let mut session = Session::new(trigger, Timestamp::from_millis(1_000_000));
    session.state = state;
    session.usage.cost_micros = 12_300;
    session.usage.tokens_in = 12_345;
    session.usage.tokens_out = 678;
    match state {
        SessionState::Completed => {
            session.reason = Some("add() subtracted; it adds now.".into());
            session.pr_url = Some("https://github.com/acme/app/pull/12".into());
        }
        SessionState::Failed => session.reason = Some("the model refused the API key".into()),
        SessionState::Cancelled => session.reason = Some("stopped by @ada".into()),
        _ => {}
    }
    session
}

/// Example names are made once per test run.
fn leak(name: String) -> &'static str {
    Box::leak(name.into_boxed_str())
}

/// The catalogue rendered in `markup`, one message after another, for a snapshot.
pub fn rendered(markup: &dyn Markup) -> String {
    catalogue()
        .into_iter()
        .map(|(name, text)| format!("## {name}\n{}\n", text.render(markup)))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Text an agent (or a person it quotes) might write to ping everyone, name someone,
/// or hide a link or words, as each platform's markup would read it.
pub const HOSTILE: &[&str] = &[
    "@channel @here @everyone @ada @acme/admins",
    "<!channel> <!here> <!everyone> <@U0ADA> <!subteam^S123|@admins> <#C123>",
    "<@123456789012345678> <@!123456789012345678> <@&987654321098765432> <#111>",
    "<http://evil.example|innocent> <mailto:x@evil.example|mail>",
    "[innocent](http://evil.example) ![pixel](http://evil.example/p.png)",
    "[innocent][ref]\n\n[ref]: http://evil.example \"hidden\"",
    "<details><summary>ok</summary>hidden</details> <img src=x onerror=alert(1)>",
    "shown <!-- hidden --> shown <!-- open to the end",
    "\\[escaped](http://evil.example) \\<!-- hidden -->",
    "`a\n\n<!-- hidden\n\n` `` x ``` y",
    "||spoiler|| ~~gone~~ *b* _i_ $\\color{white}{hidden}$\n# heading\n-# small\n> quote",
    "```\nclosed early``` <@123> ```",
];

/// Every hostile text in every kind of span a message puts text in (plain, strong,
/// code, a block, a link's label), and as a link's target.
pub fn hostile_rendered(markup: &dyn Markup) -> String {
    HOSTILE
        .iter()
        .map(|text| {
            let kinds = [
                ("plain", Text::new().plain(*text)),
                ("strong", Text::new().strong(*text)),
                ("code", Text::new().code(*text)),
                ("block", Text::new().block(*text)),
                (
                    "link label",
                    Text::new().link(*text, "https://lucid.example/s/1"),
                ),
                ("link target", Text::new().link("log", *text)),
            ];
            kinds
                .iter()
                .map(|(kind, t)| format!("### {kind}\n{}\n", t.render(markup)))
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("\n")
}
