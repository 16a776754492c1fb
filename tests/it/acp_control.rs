//! Controlling an external agent from the thread while it works, and how it is
//! given its model: words said mid-turn wait for the turn's end; "interrupt:" cancels
//! the turn for them; a finished session whose agent cannot load its old session
//! gets a new one told how the last run ended; an agent that offers gateway
//! authentication is given the gateway there. Its stderr is kept as its log.

use crate::acp_e2e::{ended, lucid_with, mention, of_kind};
use crate::harness::within;
use crate::rig::{Lucid, REPO};
use serde_json::Value;

/// The session's log once `check` accepts it.
async fn until_events(
    lucid: &Lucid,
    id: &str,
    what: &str,
    check: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    within(what, async {
        loop {
            let events = lucid.events(id).await;
            if check(&events) {
                return events;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    })
    .await
}

/// A file on the pull request's branch.
fn on_the_branch(lucid: &Lucid, path: &str) -> String {
    let pulls = lucid.github.pulls(REPO);
    assert_eq!(pulls.len(), 1, "{pulls:?}");
    lucid
        .github
        .git(REPO, &["show", &format!("{}:{path}", pulls[0].head)])
}

/// How many times the session ran (went running).
fn runs(events: &[Value]) -> usize {
    of_kind(events, "status")
        .iter()
        .filter(|e| e["state"] == "running")
        .count()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_interruption_cancels_the_turn_and_its_words_are_the_next_prompt() {
    let lucid = lucid_with("slow", vec![], &[]).await;
    let id = mention(&lucid, "d-int-1", "@lucid please fix add()").await;
    until_events(&lucid, &id, "the agent's first words", |e| {
        !of_kind(e, "thought").is_empty()
    })
    .await;
    mention(
        &lucid,
        "d-int-2",
        "@lucid interrupt: write down why it is slow",
    )
    .await;
    let session = ended(&lucid, &id).await;
    assert_eq!(session["state"], "completed", "{session}\n{}", lucid.log());
    let notes = on_the_branch(&lucid, "NOTES.md");
    // The words after "interrupt:", fenced as a person's.
    assert!(
        notes.contains("<untrusted>\nwrite down why it is slow\n</untrusted>"),
        "{notes}"
    );
    assert!(!notes.contains("interrupt"), "{notes}");
    let events = lucid.events(&id).await;
    assert_eq!(runs(&events), 1, "one run, two turns: {events:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_follow_up_during_a_turn_is_the_next_prompt_once_the_turn_ends() {
    let lucid = lucid_with("permission", vec![], &[("LUCID_AGENT_PERMISSIONS", "ask")]).await;
    let id = mention(&lucid, "d-mid-1", "@lucid please clean the build").await;
    // The turn waits for a person: what is said now waits for its end.
    until_events(&lucid, &id, "the permission request", |e| {
        !of_kind(e, "permission_asked").is_empty()
    })
    .await;
    mention(&lucid, "d-mid-2", "@lucid also say what you removed").await;
    until_events(&lucid, &id, "the follow-up in the log", |e| {
        !of_kind(e, "user_message").is_empty()
    })
    .await;
    mention(&lucid, "d-mid-3", "@lucid allow").await;
    let session = ended(&lucid, &id).await;
    assert_eq!(session["state"], "completed", "{session}\n{}", lucid.log());
    assert_eq!(on_the_branch(&lucid, "ALLOWED").trim(), "yes");
    let notes = on_the_branch(&lucid, "NOTES.md");
    assert!(notes.contains("also say what you removed"), "{notes}");
    let events = lucid.events(&id).await;
    assert_eq!(
        runs(&events),
        1,
        "the follow-up did not wait for a new run: {events:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn without_session_load_a_follow_up_opens_a_new_session_told_how_the_last_run_ended() {
    // The `fix` agent does not offer session/load.
    let lucid = lucid_with(
        "fix",
        vec![crate::fake_llm::Reply::text("Change - to +.", 10, 2)],
        &[],
    )
    .await;
    let id = mention(&lucid, "d-new-1", "@lucid please fix add()").await;
    let first = ended(&lucid, &id).await;
    assert_eq!(first["state"], "completed", "{first}");
    let before = lucid.events(&id).await.len();
    mention(&lucid, "d-new-2", "@lucid and write down what you did").await;
    let events = until_events(&lucid, &id, "the second run to end", |e| {
        e.len() > before
            && of_kind(&e[before..], "status")
                .iter()
                .any(|s| s["state"] == "completed")
    })
    .await;
    let notes = on_the_branch(&lucid, "NOTES.md");
    // A new session: the task, how the last run ended, and what was said since.
    assert!(notes.contains("please fix add()"), "{notes}");
    assert!(
        notes.contains("ended thus:\n<untrusted>\nFixed add in calc.py"),
        "{notes}"
    );
    assert!(notes.contains("and write down what you did"), "{notes}");
    assert_eq!(runs(&events), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_agent_offering_gateway_authentication_is_given_the_gateway_there_and_its_log_is_kept() {
    let lucid = lucid_with(
        "fix --auth gateway",
        vec![crate::fake_llm::Reply::text("Change - to +.", 10, 2)],
        &[],
    )
    .await;
    let id = mention(&lucid, "d-gw-auth", "@lucid please fix add()").await;
    let session = ended(&lucid, &id).await;
    assert_eq!(session["state"], "completed", "{session}\n{}", lucid.log());
    // It asked the model only where `authenticate` said: the gateway, which put the
    // real key on the request.
    let heard = lucid.llm.received();
    assert_eq!(heard.len(), 1, "one model request");
    assert_eq!(
        heard[0].authorization,
        format!("Bearer {}", crate::rig::LLM_KEY)
    );
    // Its stderr, kept as its log, says how it was given its model.
    let events = lucid.events(&id).await;
    let logs = of_kind(&events, "agent_log");
    assert_eq!(logs.len(), 1, "{events:?}");
    let log = logs[0]["text"].as_str().unwrap();
    assert_eq!(logs[0]["agent"], "script");
    assert!(
        log.contains("authenticated through the gateway at http://")
            && log.contains("/v1 (headers: authorization)"),
        "{log}"
    );
    assert!(!log.contains("lucid-gw-"), "a token in the log: {log}");
}
