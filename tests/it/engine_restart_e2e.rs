//! The Docker engine restarted in the middle of a session (on an engine of the
//! test's own, see [`OwnEngine`]): the command running in the sandbox dies with its
//! container, and the session ends failed, saying why in its thread, instead of
//! carrying on in a sandbox that is gone or hanging. Once the engine is back, a new
//! session works, and the warm pool, whose container died too, fills again.

use crate::fake_llm::Reply;
use crate::harness::within;
use crate::own_engine::OwnEngine;
use crate::rig::{Lucid, REPO, comment_payload, fixing_script, within_command};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// lucid's running containers on `engine` for `session` (`pool`: the warm ones).
async fn running(engine: &OwnEngine, session: &str) -> usize {
    use bollard::query_parameters::ListContainersOptions;
    let filters = HashMap::from([("label".to_owned(), vec![format!("lucid.session={session}")])]);
    engine
        .client()
        .unwrap()
        .list_containers(Some(ListContainersOptions {
            all: false,
            filters: Some(filters),
            ..Default::default()
        }))
        .await
        .unwrap()
        .len()
}

async fn until_running(engine: &OwnEngine, session: &str, what: &str) {
    within(what, async {
        while running(engine, session).await == 0 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
}

fn ended(session: &serde_json::Value) -> bool {
    ["completed", "failed", "cancelled"].contains(&session["state"].as_str().unwrap_or(""))
}

#[tokio::test(flavor = "multi_thread")]
async fn an_engine_restart_mid_session_fails_it_clearly_and_the_next_session_works() {
    let began = Instant::now();
    let engine = OwnEngine::start().await;
    eprintln!(
        "engine restart: own engine up, image in, after {:?}",
        began.elapsed()
    );
    // A long command to restart the engine under; then a whole session's script,
    // which a session carrying on in its dead sandbox would take.
    let mut script = vec![Reply::tool_call(
        "c0",
        "run",
        r#"{"command": "sleep 60; echo slept"}"#,
    )];
    script.extend(fixing_script());
    let settings = [
        ("DOCKER_HOST", engine.host.as_str()),
        ("LUCID_SANDBOX_NETWORK", "off"),
        ("LUCID_SANDBOX_POOL_SIZE", "1"),
    ];
    let lucid = Lucid::start_setting(script, &settings).await;
    until_running(&engine, "pool", "the warm pool to fill").await;

    let words = "@lucid please fix add()";
    let comment = lucid.github.add_comment(REPO, 7, "ada", words);
    let payload = comment_payload(7, "add() subtracts", comment, "ada", words);
    let (status, answer) = lucid.deliver("issue_comment", "d-engine-1", &payload).await;
    assert_eq!(status, 202, "{answer}");
    let first = answer["session"].as_str().unwrap().to_owned();
    within_command(&lucid, &first, "sleep 60").await;

    let restarting = Instant::now();
    engine.restart().await;
    eprintln!(
        "engine restart: the engine restarted in {:?}",
        restarting.elapsed()
    );
    let session = lucid
        .until_session(&first, "the session to end after the restart", ended)
        .await;
    eprintln!(
        "engine restart: the session ended {:?} after the restart began",
        restarting.elapsed()
    );
    assert_eq!(session["state"], "failed", "{session}\n{}", lucid.log());
    let reason = lucid::messages::sandbox_engine_restarted();
    assert_eq!(session["reason"], reason.as_str(), "{session}");
    lucid
        .github
        .wait_until("the failure in the issue", |g| {
            g.comments(REPO, 7)
                .into_iter()
                .find(|c| c.author != "ada" && c.body.contains("Docker engine restarted"))
        })
        .await;

    // The engine is back: a new session works, in a new sandbox.
    let comment = lucid.github.add_comment(REPO, 8, "ada", words);
    let payload = comment_payload(8, "add() still subtracts", comment, "ada", words);
    let (status, answer) = lucid.deliver("issue_comment", "d-engine-2", &payload).await;
    assert_eq!(status, 202, "{answer}");
    let next = answer["session"].as_str().unwrap().to_owned();
    let session = lucid
        .until_session(&next, "the session after the restart", ended)
        .await;
    assert_eq!(session["state"], "completed", "{session}\n{}", lucid.log());
    assert_eq!(lucid.github.pulls(REPO).len(), 1);
    // The warm container that died with the engine was replaced by a live one, and
    // the first session's dead container was removed.
    until_running(&engine, "pool", "the warm pool to fill again").await;
    within("the dead sandbox to be removed", async {
        loop {
            let left = engine
                .client()
                .unwrap()
                .list_containers(Some(bollard::query_parameters::ListContainersOptions {
                    all: true,
                    filters: Some(HashMap::from([(
                        "label".to_owned(),
                        vec![format!("lucid.session={first}")],
                    )])),
                    ..Default::default()
                }))
                .await
                .unwrap();
            if left.is_empty() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    drop(lucid);
    eprintln!("engine restart: the whole test took {:?}", began.elapsed());
}
