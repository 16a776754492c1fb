//! A platform that takes the connection and never answers: lucid's clients give each
//! request `LUCID_PLATFORM_TIMEOUT` (2 seconds here), so the hung request fails and
//! is tried again, instead of hanging whoever made it for ever. The fake GitHub holds
//! one matching request unanswered (`hold_next`), or carries it out and stalls its
//! answer half-way (`stall_next`); the next one is answered. A delivery waits on a
//! permission check only briefly, whatever the clients' limit, and a stopping lucid
//! does not wait on a session stuck on GitHub.

use crate::fake_llm::Reply;
use crate::harness::within;
use crate::rig::{Lucid, REPO, comment_payload, fixing_script};

const LIMIT: (&str, &str) = ("LUCID_PLATFORM_TIMEOUT", "2s");

/// How many `method path` requests the fake GitHub answered (held ones aside).
fn asked(lucid: &Lucid, method: &str, path: &str) -> usize {
    lucid
        .github
        .requests()
        .iter()
        .filter(|r| r.method == method && r.path == path)
        .count()
}

/// "@lucid please fix add()" on issue 7, delivered as `delivery`; GitHub's answer.
async fn mention(lucid: &Lucid, delivery: &str) -> (u16, serde_json::Value) {
    let words = "@lucid please fix add()";
    let comment = lucid.github.add_comment(REPO, 7, "ada", words);
    let payload = comment_payload(7, "add() subtracts", comment, "ada", words);
    lucid.deliver("issue_comment", delivery, &payload).await
}

/// The session once it has ended, however it did.
async fn ended(lucid: &Lucid, id: &str) -> serde_json::Value {
    lucid
        .until_session(id, "the session to end", |s| {
            ["completed", "failed", "cancelled"].contains(&s["state"].as_str().unwrap_or(""))
        })
        .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_permission_check_github_never_answers_is_tried_again_not_waited_on() {
    let lucid = Lucid::start_setting(fixing_script(), &[LIMIT]).await;
    let check = format!("/repos/{REPO}/collaborators/ada/permission");
    lucid.github.hold_next("GET", &check);
    // The webhook's answer waits on the check: without a limit, for ever.
    let (status, answer) = within("the webhook's answer", mention(&lucid, "d-hung-check")).await;
    assert_eq!(status, 202, "{answer}\n{}", lucid.log());
    assert!(answer["session"].is_string(), "{answer}");
    assert_eq!(lucid.github.held(), [format!("GET {check}")]);
    // Asked again once the first try ran out, and answered then.
    assert_eq!(
        asked(&lucid, "GET", &check),
        1,
        "{:#?}",
        lucid.github.requests()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pull_request_github_never_answers_is_opened_by_the_next_try_once() {
    let lucid = Lucid::start_setting(fixing_script(), &[LIMIT]).await;
    let pulls = format!("/repos/{REPO}/pulls");
    lucid.github.hold_next("POST", &pulls);
    let (status, answer) = mention(&lucid, "d-hung-pr").await;
    assert_eq!(status, 202, "{answer}");
    let id = answer["session"].as_str().unwrap().to_owned();
    // Without a limit the worker waits on the held request and the session never ends.
    let session = ended(&lucid, &id).await;
    assert_eq!(session["state"], "completed", "{session}\n{}", lucid.log());
    assert_eq!(lucid.github.held(), [format!("POST {pulls}")]);
    assert_eq!(lucid.github.pulls(REPO).len(), 1, "one pull request");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_permission_check_slower_than_githubs_patience_is_held_not_waited_on() {
    // The clients' own limit (60 s by default) is far past GitHub's 10 s for a
    // delivery: the intake waits on the check for 5 s, then holds the request.
    let lucid = Lucid::start(fixing_script()).await;
    let check = format!("/repos/{REPO}/collaborators/ada/permission");
    lucid.github.hold_next("GET", &check);
    let (status, answer) = tokio::time::timeout(
        std::time::Duration::from_secs(9),
        mention(&lucid, "d-slow-check"),
    )
    .await
    .expect("answered after GitHub's 10 s would have given up");
    assert_eq!(status, 202, "{answer}\n{}", lucid.log());
    assert!(answer["held"].is_string(), "{answer}");
    // Decided once GitHub answers the next check: one session, to its end.
    let id = within("the held request's session", async {
        loop {
            if let Some(s) = lucid.sessions().await.first() {
                return s["id"].as_str().unwrap().to_owned();
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    })
    .await;
    let session = ended(&lucid, &id).await;
    assert_eq!(session["state"], "completed", "{session}\n{}", lucid.log());
    assert_eq!(lucid.github.held(), [format!("GET {check}")]);
    assert_eq!(lucid.sessions().await.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pull_request_whose_answer_github_stalls_in_the_middle_of_is_not_waited_on() {
    // GitHub opened it, but its answer stops half-way. Without a limit on the body
    // the worker waits on it for ever and the session never ends; trying again
    // without looking would open a second pull request (the fake refuses it, as
    // GitHub does, so the session would fail).
    let lucid = Lucid::start_setting(fixing_script(), &[LIMIT]).await;
    let pulls = format!("/repos/{REPO}/pulls");
    lucid.github.stall_next("POST", &pulls);
    let (status, answer) = mention(&lucid, "d-stalled-pr").await;
    assert_eq!(status, 202, "{answer}");
    let id = answer["session"].as_str().unwrap().to_owned();
    let session = ended(&lucid, &id).await;
    assert_eq!(lucid.github.held(), [format!("POST {pulls}")]);
    assert_eq!(session["state"], "completed", "{session}\n{}", lucid.log());
    assert_eq!(lucid.github.pulls(REPO).len(), 1, "one pull request");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stopping_lucid_leaves_a_session_stuck_on_github_for_the_next_to_take_over() {
    // The clients' limit at its default (60 s a try, tried again by octocrab): the
    // session waits on GitHub far longer than a stop may take.
    // The run that takes over has nothing left to do but finish.
    let mut script = fixing_script();
    script.push(Reply::tool_call(
        "c5",
        "finish",
        r#"{"summary": "Make add() add\n\nIt subtracted."}"#,
    ));
    let mut lucid = Lucid::start_setting(script, &[("LUCID_LEASE", "4s")]).await;
    let pulls = format!("/repos/{REPO}/pulls");
    lucid.github.hold_next("POST", &pulls);
    let (status, answer) = mention(&lucid, "d-stop-stuck").await;
    assert_eq!(status, 202, "{answer}");
    let id = answer["session"].as_str().unwrap().to_owned();
    lucid
        .github
        .wait_until("the pull request's request held", |g| {
            (!g.held().is_empty()).then_some(())
        })
        .await;
    // Stopped within its grace (20 s) and a margin, not after GitHub's minutes.
    let took = lucid.terminate();
    assert!(
        took < std::time::Duration::from_secs(30),
        "stopping took {took:?}\n{}",
        lucid.log()
    );
    // The next lucid takes the session over once its lease runs out, and ends it.
    lucid.restart().await;
    let session = ended(&lucid, &id).await;
    assert_eq!(session["state"], "completed", "{session}\n{}", lucid.log());
    assert_eq!(lucid.github.pulls(REPO).len(), 1, "one pull request");
}
