//! Checkpoints with the real `lucid serve`, the fake model and real sandboxes: a
//! change made through the shell reaches the log as a diff, a step that changes
//! nothing logs nothing, and the built-in tools' edits are logged once.

use crate::fake_llm::Reply;
use crate::rig::{Lucid, REPO};
use serde_json::{Value, json};

/// Starts a session on `repo` through the API and waits for it to complete; answers
/// its events.
async fn run_to_the_end(lucid: &Lucid, repo: &str) -> Vec<Value> {
    let (session, events) = lucid.run_session(repo, "fix add()").await;
    assert_eq!(session["state"], "completed", "{session} {events:#?}");
    events
}

#[tokio::test(flavor = "multi_thread")]
async fn a_change_made_by_sed_is_a_file_edit_and_a_step_that_changes_nothing_logs_none() {
    let lucid = Lucid::start(vec![
        Reply::tool_call(
            "c1",
            "run",
            r#"{"command": "sed -i 's/a - b/a + b/' calc.py"}"#,
        ),
        Reply::tool_call("c2", "run", r#"{"command": "python3 test_calc.py"}"#),
        Reply::tool_call(
            "c3",
            "edit_file",
            r#"{"path": "test_calc.py", "old_text": "add is broken", "new_text": "add() is broken"}"#,
        ),
        Reply::tool_call("c4", "finish", r#"{"summary": "Make add() add"}"#),
    ])
    .await;
    let events = run_to_the_end(&lucid, REPO).await;
    let kinds: Vec<&str> = events
        .iter()
        .filter(|e| ["command", "output", "file_edit"].contains(&e["kind"].as_str().unwrap()))
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    // sed's change right after its command; the test run changed nothing; the
    // edit tool's change once.
    assert_eq!(
        kinds,
        [
            "command",
            "output",
            "file_edit",
            "command",
            "output",
            "file_edit"
        ]
    );
    let edits: Vec<&Value> = events.iter().filter(|e| e["kind"] == "file_edit").collect();
    assert_eq!(edits[0]["path"], "calc.py");
    let diff = edits[0]["diff"].as_str().unwrap();
    assert!(
        diff.contains("-    return a - b\n+    return a + b\n"),
        "{diff}"
    );
    assert_eq!(edits[1]["path"], "test_calc.py");
    let diff = edits[1]["diff"].as_str().unwrap();
    assert!(
        diff.contains("+assert add(2, 2) == 4, 'add() is broken'"),
        "{diff}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_sandbox_has_the_branchs_history_and_no_remote_and_the_pr_still_holds_only_the_work() {
    let lucid = Lucid::start(vec![
        Reply::tool_call(
            "c1",
            "run",
            r#"{"command": "git log --format=%s; echo remotes: $(git remote | wc -l); git status --porcelain | wc -l"}"#,
        ),
        Reply::tool_call(
            "c2",
            "edit_file",
            r#"{"path": "calc.py", "old_text": "return a - b", "new_text": "return a + b"}"#,
        ),
        Reply::tool_call("c3", "run", r#"{"command": "git diff --stat"}"#),
        // Planted for the host's git: a hook and a config that would leave a mark on
        // the host if lucid's git ever read this repository.
        Reply::tool_call("c4", "run", &plant_command()),
        Reply::tool_call("c5", "finish", r#"{"summary": "Make add() add"}"#),
    ])
    .await;
    let events = run_to_the_end(&lucid, REPO).await;
    let outputs: Vec<&str> = events
        .iter()
        .filter(|e| e["kind"] == "output")
        .map(|e| e["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        outputs[0].trim(),
        "Initial commit\nremotes: 0\n0",
        "{outputs:?}"
    );
    assert!(outputs[1].contains("calc.py | 2 +-"), "{outputs:?}");
    // Only the work reached the pull request: nothing of the sandbox's .git.
    let pulls = lucid.github.pulls(REPO);
    let branch = &pulls[0].head;
    let files = lucid
        .github
        .git(REPO, &["ls-tree", "-r", "--name-only", branch]);
    assert!(!files.contains(".git/"), "{files}");
    let edits = events.iter().filter(|e| e["kind"] == "file_edit").count();
    assert_eq!(edits, 1, "git's own files are never a change");
    let planted = events
        .iter()
        .position(|e| {
            e["command"]
                .as_str()
                .is_some_and(|c| c.contains("core.fsmonitor"))
        })
        .expect("the planting command");
    assert_eq!(
        events[planted + 1]["exit_code"],
        0,
        "{}",
        events[planted + 1]
    );
    for mark in MARKS {
        assert!(
            !std::path::Path::new(mark).exists(),
            "{mark}: the host ran what the agent planted"
        );
    }
}

const MARKS: [&str; 2] = [
    "/tmp/lucid-test-planted-hook-ran",
    "/tmp/lucid-test-planted-fsmonitor-ran",
];

fn plant_command() -> String {
    let command = format!(
        "printf '#!/bin/sh\\ntouch {hook}\\n' > .git/hooks/pre-commit && chmod +x .git/hooks/pre-commit \
         && cp .git/hooks/pre-commit .git/hooks/post-index-change \
         && git config core.fsmonitor 'touch {fsmonitor}' && git config core.hooksPath .git/hooks",
        hook = MARKS[0],
        fsmonitor = MARKS[1],
    );
    json!({ "command": command }).to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_repositorys_guidance_reaches_the_models_first_request_below_lucids_rules() {
    let lucid = Lucid::start(vec![
        Reply::tool_call("g1", "finish", r#"{"summary": "Read the guidance"}"#),
        Reply::tool_call("g2", "finish", r#"{"summary": "Read the other guidance"}"#),
    ])
    .await;
    let calc = ("calc.py", "def add(a, b):\n    return a - b\n");
    lucid.github.add_repo(
        "acme/guided",
        &[
            calc,
            ("AGENTS.md", "Run tests with `make check-guided`.\n"),
            ("CLAUDE.md", "not this one\n"),
        ],
    );
    lucid.github.add_repo(
        "acme/claude",
        &[calc, ("CLAUDE.md", "Prefer `make check-claude`.\n")],
    );
    for repo in ["acme/guided", "acme/claude"] {
        run_to_the_end(&lucid, repo).await;
    }
    let systems: Vec<String> = lucid
        .llm
        .received()
        .iter()
        .map(|r| {
            r.body["messages"][0]["content"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    assert_eq!(systems.len(), 2, "{systems:?}");
    assert!(
        systems[0].starts_with("You are lucid"),
        "lucid's rules come first"
    );
    assert!(
        systems[0].contains("(AGENTS.md)")
            && systems[0].contains("<repository-guidance>\nRun tests with `make check-guided`.\n"),
        "{}",
        systems[0]
    );
    assert!(
        !systems[0].contains("not this one"),
        "AGENTS.md wins over CLAUDE.md"
    );
    assert!(
        systems[1].contains("(CLAUDE.md)") && systems[1].contains("Prefer `make check-claude`."),
        "{}",
        systems[1]
    );
}
