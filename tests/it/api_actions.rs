//! Acting through the API with the real `lucid serve`, the fake GitHub, the fake
//! model and real sandboxes: a session started by hand runs to its pull request, a
//! message takes it up again, a stop ends a running one; bad requests say why.

use crate::fake_llm::Reply;
use crate::rig::{Lucid, REPO, fixing_script, within_command};
use serde_json::{Value, json};

fn state(session: &Value) -> &str {
    session["state"].as_str().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_session_started_by_hand_runs_to_its_pr_and_a_message_takes_it_up_again() {
    let mut script = fixing_script();
    script.push(Reply::tool_call(
        "c9",
        "finish",
        r#"{"summary": "subtract() is fine too"}"#,
    ));
    let lucid = Lucid::start(script).await;
    let asked = json!({"task": "fix add() in calc.py", "repo": REPO, "author": "Ada"});
    let (status, body) = lucid.api_post("/sessions", &asked, Some("k-1")).await;
    assert_eq!(status, 201, "{body}");
    let session = body["session"].as_str().unwrap().to_owned();
    // The same request again (a client's retry): nothing new.
    let (status, again) = lucid.api_post("/sessions", &asked, Some("k-1")).await;
    assert_eq!((status, &again), (200, &json!({"duplicate": true})));

    let done = lucid
        .until_session(&session, "the session to finish", |s| {
            state(s) == "completed"
        })
        .await;
    assert_eq!(done["trigger"]["thread"]["platform"], "web");
    assert_eq!(done["trigger"]["author"]["display_name"], "Ada");
    let pr_url = done["pr_url"].as_str().expect("a pull request").to_owned();
    assert_eq!(lucid.github.pulls(REPO).len(), 1);

    let (status, said) = lucid
        .api_post(
            &format!("/sessions/{session}/messages"),
            &json!({"text": "check subtract() too"}),
            None,
        )
        .await;
    assert_eq!(status, 200, "{said}");
    assert_eq!(said["resumed"], true);
    let again = lucid
        .until_session(&session, "the session to finish again", |s| {
            state(s) == "completed" && s["reason"] == "subtract() is fine too"
        })
        .await;
    assert!(lucid.llm.heard("check subtract() too"));
    assert_eq!(again["pr_url"], pr_url.as_str());
    assert_eq!(lucid.github.pulls(REPO).len(), 1);
    assert_eq!(lucid.sessions().await.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stop_by_hand_ends_a_running_session_and_bad_requests_say_why() {
    let lucid = Lucid::start(vec![Reply::tool_call(
        "c1",
        "run",
        r#"{"command": "echo working; sleep 300"}"#,
    )])
    .await;
    let (status, body) = lucid
        .api_post(
            "/sessions",
            &json!({"task": "run the slow thing", "repo": REPO}),
            None,
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let session = body["session"].as_str().unwrap().to_owned();
    within_command(&lucid, &session, "sleep 300").await;
    let (status, stopped) = lucid
        .api_post(
            &format!("/sessions/{session}/stop"),
            &json!({"author": "Ada"}),
            None,
        )
        .await;
    assert_eq!(status, 200, "{stopped}");
    let ended = lucid
        .until_session(&session, "the session to stop", |s| state(s) == "cancelled")
        .await;
    assert_eq!(ended["reason"], "stopped by @Ada");

    for (path, body, says) in [
        (
            "/sessions",
            json!({"task": "x", "repo": "not a repo"}),
            "is not a repository",
        ),
        (
            "/sessions",
            json!({"task": "x", "repo": "gitlab:acme/app"}),
            "no forge here serves gitlab",
        ),
        (
            "/sessions",
            json!({"task": "  ", "repo": REPO}),
            "task is empty",
        ),
        ("/sessions", json!({"task": "x"}), "missing field `repo`"),
        (
            "/sessions",
            json!({"task": "x", "repo": REPO, "colour": "red"}),
            "unknown field",
        ),
        ("/sessions/not-an-id/stop", json!({}), "not"),
    ] {
        let (status, answer) = lucid.api_post(path, &body, None).await;
        assert_eq!(status, 400, "{path} {body}: {answer}");
        let error = answer["error"].as_str().unwrap_or_default();
        assert!(error.contains(says), "{path} {body}: {answer}");
    }
    let unknown = "01890000-0000-7000-8000-000000000009";
    let (status, _) = lucid
        .api_post(
            &format!("/sessions/{unknown}/messages"),
            &json!({"text": "hi"}),
            None,
        )
        .await;
    assert_eq!(status, 404);
    let anonymous = lucid
        .http
        .post(format!("{}/api/v1/sessions", lucid.url))
        .json(&json!({"task": "x", "repo": REPO}))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status().as_u16(), 401);
    assert_eq!(lucid.sessions().await.len(), 1);
}
