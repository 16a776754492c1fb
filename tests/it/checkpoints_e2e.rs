//! Checkpoints with the real `lucid serve`, the fake model and real sandboxes: a
//! change made through the shell reaches the log as a diff, a step that changes
//! nothing logs nothing, and the built-in tools' edits are logged once.

use crate::fake_llm::Reply;
use crate::rig::{Lucid, REPO};
use serde_json::{Value, json};

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
    let (status, body) = lucid
        .api_post(
            "/sessions",
            &json!({"task": "fix add()", "repo": REPO}),
            None,
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let id = body["session"].as_str().unwrap().to_owned();
    lucid
        .until_session(&id, "the session to finish", |s| s["state"] == "completed")
        .await;
    let events = lucid.events(&id).await;
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
