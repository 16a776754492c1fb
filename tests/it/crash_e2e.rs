//! `lucid serve` killed (SIGKILL, as a crash) in the middle of a session: the lucid
//! started again on the same store takes the session over once its lease has run
//! out, and it ends with its final status in its thread; its first sandbox is
//! reaped, and the thread never shows two status messages or two pull requests.

use crate::acp_e2e::containers_of;
use crate::fake_llm::Reply;
use crate::harness::within;
use crate::rig::{Lucid, REPO, comment_payload, fixing_script};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread")]
async fn a_session_whose_lucid_is_killed_mid_command_is_taken_over_after_a_restart() {
    // A slow first command, to be killed in; then the usual fix.
    let mut script = vec![Reply::tool_call(
        "c0",
        "run",
        r#"{"command": "sleep 20; echo slept"}"#,
    )];
    script.extend(fixing_script());
    let mut lucid = Lucid::start_setting(script, &[("LUCID_LEASE", "5s")]).await;
    let words = "@lucid please fix add()";
    let comment = lucid.github.add_comment(REPO, 7, "ada", words);
    let payload = comment_payload(7, "add() subtracts", comment, "ada", words);
    let (status, answer) = lucid.deliver("issue_comment", "d-crash-1", &payload).await;
    assert_eq!(status, 202, "{answer}");
    let id = answer["session"].as_str().unwrap().to_owned();
    within("the slow command to start", async {
        loop {
            let events = lucid.events(&id).await;
            if events.iter().any(|e| e["kind"] == "command") {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert_eq!(containers_of(&id).await, 1);

    lucid.kill();
    lucid.restart().await;
    // The lease (5 s) runs out, the session is taken over and ends.
    let ended = tokio::time::timeout(Duration::from_secs(120), async {
        loop {
            let session = lucid.api(&format!("/sessions/{id}")).await;
            let state = session["state"].as_str().unwrap_or("").to_owned();
            if ["completed", "failed", "cancelled"].contains(&state.as_str()) {
                return session;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("not taken over within 2 minutes:\n{}", lucid.log()));
    assert_eq!(ended["state"], "completed", "{ended}\n{}", lucid.log());

    // One status comment, edited to the end; one pull request, linked.
    let comments = lucid.github.comments(REPO, 7);
    let statuses: Vec<_> = comments.iter().filter(|c| c.author != "ada").collect();
    assert_eq!(statuses.len(), 1, "{comments:#?}");
    assert_eq!(lucid.github.pulls(REPO).len(), 1);
    // Both sandboxes gone: the killed lucid's and the one the run ended with.
    within("the sandboxes to be reaped", async {
        while containers_of(&id).await > 0 {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;
}
