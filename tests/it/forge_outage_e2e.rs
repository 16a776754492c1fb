//! GitHub down or refusing lucid's token when a mention comes: the delivery is kept
//! and answered (GitHub does not redeliver), lucid asks again with backoff, and the
//! session starts once GitHub answers. Nothing is lost, nothing is done twice.

use crate::rig::{Lucid, REPO, TOKEN, comment_payload, fixing_script};

/// How many times lucid asked GitHub whether `login` may write to acme/calc.
fn permission_checks(lucid: &Lucid, login: &str) -> usize {
    let path = format!("/repos/{REPO}/collaborators/{login}/permission");
    lucid
        .github
        .requests()
        .iter()
        .filter(|r| r.path == path)
        .count()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_mention_while_github_refuses_the_token_is_kept_and_starts_once_it_answers() {
    let lucid = Lucid::start(fixing_script()).await;
    lucid.github.revoke_token(TOKEN);
    let words = "@lucid please fix add()";
    let comment = lucid.github.add_comment(REPO, 7, "ada", words);
    let payload = comment_payload(7, "add() subtracts", comment, "ada", words);
    let (status, answer) = lucid.deliver("issue_comment", "d-down-1", &payload).await;
    assert_eq!(status, 202, "{answer}");
    assert!(answer["held"].is_string(), "{answer}");
    // GitHub's own retry, or a second replica's, during the outage: once.
    let (status, again) = lucid.deliver("issue_comment", "d-down-1", &payload).await;
    assert_eq!(
        (status, &again["duplicate"]),
        (200, &serde_json::json!(true))
    );

    // lucid keeps asking, and starts nothing meanwhile.
    lucid
        .github
        .wait_until("lucid to ask GitHub again", |_| {
            (permission_checks(&lucid, "ada") >= 3).then_some(())
        })
        .await;
    assert!(
        lucid.sessions().await.is_empty(),
        "started without the check"
    );

    lucid.github.accept_token(TOKEN);
    let started = tokio::time::timeout(crate::harness::DEADLINE, async {
        loop {
            if let Some(s) = lucid.sessions().await.first() {
                return s["id"].as_str().unwrap().to_owned();
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    });
    let id = started
        .await
        .unwrap_or_else(|_| panic!("no session once GitHub answered:\n{}", lucid.log()));
    let session = lucid
        .until_session(&id, "the session to end", |s| {
            ["completed", "failed", "cancelled"].contains(&s["state"].as_str().unwrap_or(""))
        })
        .await;
    assert_eq!(session["state"], "completed", "{session}\n{}", lucid.log());
    assert_eq!(lucid.github.pulls(REPO).len(), 1);
    // Decided now: a redelivery is a duplicate, and one session in all.
    let (status, late) = lucid.deliver("issue_comment", "d-down-1", &payload).await;
    assert_eq!(
        (status, &late["duplicate"]),
        (200, &serde_json::json!(true))
    );
    assert_eq!(lucid.sessions().await.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_mention_kept_through_an_outage_is_still_refused_to_someone_who_cannot_write() {
    let lucid = Lucid::start(fixing_script()).await;
    lucid.github.set_permission(REPO, "mallory", "read");
    lucid.github.revoke_token(TOKEN);
    let words = "@lucid please fix add()";
    let comment = lucid.github.add_comment(REPO, 7, "mallory", words);
    let payload = comment_payload(7, "add() subtracts", comment, "mallory", words);
    let (status, answer) = lucid.deliver("issue_comment", "d-down-2", &payload).await;
    assert_eq!(status, 202, "{answer}");
    assert!(answer["held"].is_string(), "{answer}");
    lucid
        .github
        .wait_until("lucid to ask GitHub again", |_| {
            (permission_checks(&lucid, "mallory") >= 2).then_some(())
        })
        .await;
    lucid.github.accept_token(TOKEN);
    // Once GitHub answers, the refusal is said in the issue, once.
    let refusal = lucid
        .github
        .wait_until("the refusal in the issue", |g| {
            g.comments(REPO, 7)
                .into_iter()
                .find(|c| c.body.contains("can write to this repository"))
        })
        .await;
    assert!(refusal.body.contains("mallory"), "{}", refusal.body);
    assert!(lucid.sessions().await.is_empty());
    // Asked until GitHub answered, then no more.
    let asked = permission_checks(&lucid, "mallory");
    assert!(asked >= 3, "{asked}");
}
