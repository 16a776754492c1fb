//! Permissions asked of people (`LUCID_AGENT_PERMISSIONS=ask`): the scripted agent
//! asks leave to run `rm -rf build`; the thread is asked, and the answer (a reply
//! to lucid, a button) or its absence settles it, the same way on every platform.

use crate::acp_e2e::{ended, lucid_with, mention, of_kind};
use crate::harness::within;
use crate::rig::{Lucid, REPO};
use serde_json::Value;

/// lucid in `ask` mode, the scripted agent in its permission scenario.
async fn asking(extra: &[(&str, &str)]) -> Lucid {
    let mut settings = vec![("LUCID_AGENT_PERMISSIONS", "ask")];
    settings.extend_from_slice(extra);
    lucid_with("permission", vec![], &settings).await
}

/// The session's log once it holds an event of `kind`.
async fn until_logged(lucid: &Lucid, id: &str, kind: &str) -> Vec<Value> {
    within(&format!("a {kind} event"), async {
        loop {
            let events = lucid.events(id).await;
            if !of_kind(&events, kind).is_empty() {
                return events;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    })
    .await
}

/// What the agent wrote to ALLOWED on the pull request's branch, if it could.
fn allowed_on_the_branch(lucid: &Lucid) -> Option<String> {
    let pulls = lucid.github.pulls(REPO);
    let head = &pulls.first()?.head;
    let shown = std::process::Command::new("git")
        .arg("-C")
        .arg(lucid.github.repo_dir(REPO))
        .args(["show", &format!("{head}:ALLOWED")])
        .output()
        .unwrap();
    shown
        .status
        .success()
        .then(|| String::from_utf8_lossy(&shown.stdout).trim().to_owned())
}

#[tokio::test(flavor = "multi_thread")]
async fn in_ask_mode_the_thread_is_asked_and_a_reply_to_lucid_allows_it() {
    let lucid = asking(&[]).await;
    let id = mention(&lucid, "d-ask-1", "@lucid please clean the build").await;
    let events = until_logged(&lucid, &id, "permission_asked").await;
    let asked = of_kind(&events, "permission_asked")[0].clone();
    assert_eq!(asked["number"], 1, "{asked}");
    assert_eq!(asked["title"], "rm -rf build", "{asked}");
    assert_eq!(asked["tool"], "execute", "{asked}");
    assert_eq!(asked["within_secs"], 600, "{asked}");
    // The thread is asked, in words that work on every platform (GitHub takes no
    // replies: its status comment asks).
    let question = within("the question in the thread", async {
        loop {
            let comments = lucid.github.comments(REPO, 7);
            if let Some(c) = comments
                .iter()
                .find(|c| c.body.contains("Waiting for leave"))
            {
                return c.body.clone();
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(
        question.contains("`rm -rf build`") && question.contains("“allow” or “reject”"),
        "{question}"
    );
    assert!(
        lucid.github.pulls(REPO).is_empty(),
        "nothing before the answer"
    );

    mention(&lucid, "d-ask-2", "@lucid allow").await;
    let session = ended(&lucid, &id).await;
    assert_eq!(session["state"], "completed", "{session}\n{}", lucid.log());
    assert_eq!(allowed_on_the_branch(&lucid).as_deref(), Some("yes"));
    let events = lucid.events(&id).await;
    let answered = of_kind(&events, "permission_answered");
    assert_eq!(answered.len(), 1, "{answered:?}");
    assert_eq!(answered[0]["allow"], true);
    let settled = of_kind(&events, "permission_settled");
    assert_eq!(settled.len(), 1, "{settled:?}");
    assert_eq!(settled[0]["outcome"], "allowed", "{settled:?}");
    assert_eq!(settled[0]["by"], answered[0]["author"], "{settled:?}");
    // The answer was not words for the agent.
    assert!(of_kind(&events, "user_message").is_empty(), "{events:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn in_ask_mode_a_request_nobody_answers_is_rejected_in_time() {
    let lucid = asking(&[("LUCID_AGENT_PERMISSION_TIMEOUT", "1s")]).await;
    let id = mention(&lucid, "d-ask-late", "@lucid please clean the build").await;
    let session = ended(&lucid, &id).await;
    let events = lucid.events(&id).await;
    let settled = of_kind(&events, "permission_settled");
    assert_eq!(settled.len(), 1, "{events:?}");
    assert_eq!(settled[0]["outcome"], "timed_out", "{settled:?}");
    assert!(settled[0]["by"].is_null(), "{settled:?}");
    // The agent heard no: it wrote nothing, and said so.
    assert!(allowed_on_the_branch(&lucid).is_none(), "{session}");
    assert!(
        of_kind(&events, "thought").iter().any(|e| e["text"]
            .as_str()
            .unwrap_or_default()
            .starts_with("not allowed: no")),
        "{events:?}"
    );
    // An answer after the request was settled changes nothing.
    assert_ne!(session["state"], "running");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stop_while_a_permission_waits_cancels_it() {
    let lucid = asking(&[]).await;
    let id = mention(&lucid, "d-ask-stop", "@lucid please clean the build").await;
    until_logged(&lucid, &id, "permission_asked").await;
    let (status, body) = lucid
        .api_post(
            &format!("/sessions/{id}/stop"),
            &serde_json::json!({}),
            None,
        )
        .await;
    assert!(status < 300, "{status} {body}");
    let session = ended(&lucid, &id).await;
    assert_eq!(session["state"], "cancelled", "{session}");
    let events = until_logged(&lucid, &id, "permission_settled").await;
    let settled = of_kind(&events, "permission_settled");
    assert_eq!(settled[0]["outcome"], "cancelled", "{settled:?}");
    assert!(allowed_on_the_branch(&lucid).is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn in_ask_mode_the_allow_button_in_the_slack_thread_allows_it() {
    use crate::rig::{ADA, BOT_USER, CHANNEL, SLACK_SECRET, slack_message};
    let lucid = asking(&[]).await;
    let ts = "1700000077.000100";
    let text = format!("<@{BOT_USER}> please clean the build");
    let asked = slack_message("app_mention", CHANNEL, ADA, ts, None, &text);
    let (status, answer) = lucid.slack_event(&asked, None).await;
    assert_eq!(status, 200, "{answer}");
    let id = answer["session"].as_str().unwrap().to_owned();
    until_logged(&lucid, &id, "permission_asked").await;
    // The thread is asked in a reply, and its status message holds the buttons.
    lucid
        .slack
        .wait_until("the question in the thread", |s| {
            s.thread(CHANNEL, ts)
                .iter()
                .any(|m| m.text.contains("asks leave (request 1)"))
                .then_some(())
        })
        .await;
    let clicked = within("the Allow button to show", async {
        loop {
            let shown = lucid
                .slack
                .thread(CHANNEL, ts)
                .iter()
                .any(|m| m.blocks.to_string().contains("permission_allow"));
            if shown {
                return lucid
                    .slack
                    .click_button(&lucid.url, SLACK_SECRET, ADA, "permission_allow")
                    .await;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    })
    .await;
    assert_eq!(clicked, 200);
    let session = ended(&lucid, &id).await;
    assert_eq!(session["state"], "completed", "{session}\n{}", lucid.log());
    assert_eq!(allowed_on_the_branch(&lucid).as_deref(), Some("yes"));
    let events = lucid.events(&id).await;
    let settled = of_kind(&events, "permission_settled");
    assert_eq!(settled.len(), 1, "{settled:?}");
    assert_eq!(settled[0]["outcome"], "allowed", "{settled:?}");
    assert!(!settled[0]["by"].is_null(), "{settled:?}");
    // Settled, the buttons went with the request.
    lucid
        .slack
        .wait_until("the buttons to go", |s| {
            (!s.thread(CHANNEL, ts)
                .iter()
                .any(|m| m.blocks.to_string().contains("permission_allow")))
            .then_some(())
        })
        .await;
}
