//! The HTTP API over real HTTP on a random port.

use crate::harness::{API_TOKEN, Backend, TestApp, new_session, on_both_stores, within};
use lucid::core::{EventBody, SessionId, SessionState};

on_both_stores!(
    sessions_are_listed_filtered_and_paged,
    one_session_and_its_events,
    metrics_count_requests_sessions_and_events,
    usage_totals_what_sessions_spent_for_the_days_asked,
    a_session_is_renamed_and_a_finished_one_deleted_with_its_log,
    the_openapi_document_names_every_route_and_each_answers,
);

async fn the_openapi_document_names_every_route_and_each_answers(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    // Public: a document of the API is no secret.
    let document: serde_json::Value = app
        .http
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(document["openapi"], "3.1.0");
    assert_eq!(document["servers"][0]["url"], "/api/v1");
    let mut operations: Vec<(String, String)> = Vec::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            operations.push((method.to_uppercase(), path.clone()));
        }
    }
    operations.sort();
    let expected = [
        ("DELETE", "/sessions/{id}"),
        ("DELETE", "/sessions/{id}/share"),
        ("GET", "/agents"),
        ("GET", "/sessions"),
        ("GET", "/sessions/{id}"),
        ("GET", "/sessions/{id}/checkpoints"),
        ("GET", "/sessions/{id}/events"),
        ("GET", "/sessions/{id}/events/stream"),
        ("GET", "/usage"),
        ("PATCH", "/sessions/{id}"),
        ("POST", "/sessions"),
        ("POST", "/sessions/{id}/messages"),
        ("POST", "/sessions/{id}/permission"),
        ("POST", "/sessions/{id}/revert"),
        ("POST", "/sessions/{id}/share"),
        ("POST", "/sessions/{id}/stop"),
    ];
    let named: Vec<(&str, &str)> = operations
        .iter()
        .map(|(m, p)| (m.as_str(), p.as_str()))
        .collect();
    assert_eq!(named, expected, "the document names every API route");
    assert!(
        document["paths"]["/sessions"]["post"]["requestBody"].is_object(),
        "{document:#}"
    );
    // Every route it names is served (an unknown session's 404 is the route's own).
    let unknown = "01890000-0000-7000-8000-000000000009";
    for (method, path) in &operations {
        let url = app.url(&format!("/api/v1{}", path.replace("{id}", unknown)));
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let answer = app
            .http
            .request(method.clone(), url)
            .bearer_auth(API_TOKEN)
            .json(&serde_json::json!({}))
            .send()
            .await
            .unwrap();
        let status = answer.status().as_u16();
        let body = answer.text().await.unwrap();
        assert_ne!(status, 405, "{method} {path}: {body}");
        assert!(!body.contains("no such route"), "{method} {path}: {body}");
    }
}

async fn a_session_is_renamed_and_a_finished_one_deleted_with_its_log(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let s = new_session(&app.store, "d-gone").await;
    let url = |path: &str| app.url(&format!("/api/v1/sessions/{}{path}", s.id));
    let renamed = app
        .http
        .patch(url(""))
        .bearer_auth(API_TOKEN)
        .json(&serde_json::json!({"title": "Fix add()\nplease"}))
        .send()
        .await
        .unwrap();
    assert_eq!(renamed.status().as_u16(), 200);
    let renamed: serde_json::Value = renamed.json().await.unwrap();
    assert_eq!(renamed["trigger"]["title"], "Fix add() please");

    // A live session is not removed.
    let delete = || app.http.delete(url("")).bearer_auth(API_TOKEN).send();
    let refused = delete().await.unwrap();
    assert_eq!(refused.status().as_u16(), 409);
    assert!(refused.text().await.unwrap().contains("stop it first"));

    app.store
        .append_event(s.id, EventBody::Thought { text: "hm".into() })
        .await
        .unwrap();
    app.store
        .set_thread_message(s.id, "status", "m1")
        .await
        .unwrap();
    app.store
        .transition(s.id, SessionState::Cancelled, None, None)
        .await
        .unwrap();
    assert_eq!(delete().await.unwrap().status().as_u16(), 204);
    let (status, _) = app.get_json(&format!("/api/v1/sessions/{}", s.id)).await;
    assert_eq!(status, 404);
    let (status, _) = app
        .get_json(&format!("/api/v1/sessions/{}/events", s.id))
        .await;
    assert_eq!(status, 404);
    assert_eq!(
        app.store.thread_state(&s.trigger.thread).await.unwrap(),
        Default::default()
    );
    // Its delivery is still known: a late retry starts nothing again.
    let again = app.store.record_trigger(s.trigger.clone()).await.unwrap();
    assert!(
        matches!(again, lucid::store::Recorded::Duplicate { .. }),
        "{again:?}"
    );
    assert_eq!(delete().await.unwrap().status().as_u16(), 404);
}

async fn usage_totals_what_sessions_spent_for_the_days_asked(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for (i, cost) in [(0, 1_500u64), (1, 2_500)] {
        let session = new_session(&app.store, &format!("d-spent-{i}")).await;
        let usage = lucid::core::Usage {
            tokens_in: cost * 10,
            tokens_out: cost,
            cost_micros: cost,
        };
        app.store
            .append_event(session.id, EventBody::usage(usage))
            .await
            .unwrap();
    }
    // This month so far, by default.
    let (status, body) = app.get_json("/api/v1/usage").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["total"]["sessions"], 2, "{body}");
    assert_eq!(body["total"]["cost_micros"], 4_000);
    assert_eq!(body["total"]["tokens_in"], 40_000);
    assert_eq!(body["complete"], true);
    let today = lucid::core::spending::day_of(lucid::core::Timestamp::now());
    assert_eq!(body["until"], today.as_str());
    assert_eq!(body["by_day"][0]["day"], today.as_str());
    assert_eq!(body["by_platform"][0]["platform"], "github");
    assert_eq!(body["by_repository"][0]["cost_micros"], 4_000);
    assert!(body["by_person"][0]["id"].is_string(), "{body}");

    // Days before the sessions were made: nothing.
    let (_, body) = app
        .get_json("/api/v1/usage?since=2020-01-01&until=2020-01-31")
        .await;
    assert_eq!(body["total"]["sessions"], 0, "{body}");
    assert_eq!(body["by_day"], serde_json::json!([]));

    for (query, says) in [
        ("since=yesterday", "since must be a day"),
        (
            "since=2026-02-01&until=2026-01-01",
            "until must not be before since",
        ),
        ("since=2020-01-01&until=2026-01-01", "at most 366 days"),
        ("per=day", "unknown field"),
    ] {
        let (status, body) = app.get_json(&format!("/api/v1/usage?{query}")).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert!(
            body["error"].as_str().unwrap().contains(says),
            "{query}: {body}"
        );
    }
    let anonymous = app.http.get(app.url("/api/v1/usage")).send().await.unwrap();
    assert_eq!(anonymous.status().as_u16(), 401);
}

async fn sessions_are_listed_filtered_and_paged(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(
            new_session(&app.store, &format!("d-{i}"))
                .await
                .id
                .to_string(),
        );
    }
    app.store
        .transition(ids[0].parse().unwrap(), SessionState::Cancelled, None, None)
        .await
        .unwrap();

    let (status, body) = app.get_json("/api/v1/sessions?limit=2").await;
    assert_eq!(status, 200, "{body}");
    let listed: Vec<&str> = body["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, [ids[2].as_str(), ids[1].as_str()]);
    let next = body["next_before"].as_str().unwrap();
    assert_eq!(next, ids[1]);

    let (_, body) = app
        .get_json(&format!("/api/v1/sessions?limit=2&before={next}"))
        .await;
    assert_eq!(body["sessions"].as_array().unwrap().len(), 1);
    assert_eq!(body["sessions"][0]["id"], ids[0].as_str());
    assert!(body["next_before"].is_null());

    let (_, body) = app.get_json("/api/v1/sessions?state=cancelled").await;
    assert_eq!(body["sessions"].as_array().unwrap().len(), 1);
    assert_eq!(body["sessions"][0]["state"], "cancelled");
    assert_eq!(
        body["sessions"][0]["trigger"]["thread"]["platform"],
        "github"
    );
}

async fn one_session_and_its_events(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let s = new_session(&app.store, "d-one").await;
    app.store
        .append_event(
            s.id,
            EventBody::Command {
                command: "cargo test".into(),
            },
        )
        .await
        .unwrap();

    let (status, body) = app.get_json(&format!("/api/v1/sessions/{}", s.id)).await;
    assert_eq!(status, 200);
    assert_eq!(body["id"], s.id.to_string());
    assert_eq!(body["state"], "queued");
    assert_eq!(body["trigger"]["task"], "make the tests pass");

    let (status, body) = app
        .get_json(&format!("/api/v1/sessions/{}/events", s.id))
        .await;
    assert_eq!(status, 200);
    let events = body["events"].as_array().unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(events[1]["seq"], 2);
    assert_eq!(events[1]["kind"], "command");
    assert_eq!(events[1]["command"], "cargo test");

    let (_, body) = app
        .get_json(&format!("/api/v1/sessions/{}/events?after=1", s.id))
        .await;
    assert_eq!(body["events"].as_array().unwrap().len(), 1);
}

async fn metrics_count_requests_sessions_and_events(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let s = new_session(&app.store, "d-m1").await;
    new_session(&app.store, "d-m2").await;
    app.store
        .transition(s.id, SessionState::Provisioning, None, None)
        .await
        .unwrap();
    app.get_json("/api/v1/sessions").await;

    let text = within("metrics", async {
        app.http
            .get(app.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    })
    .await;
    for line in [
        r#"lucid_sessions{state="queued"} 1"#,
        r#"lucid_sessions{state="provisioning"} 1"#,
        r#"lucid_sessions{state="failed"} 0"#,
        "lucid_events 3",
        r#"lucid_http_requests_total{method="GET",route="/api/v1/sessions",status="200"} 1"#,
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "no line {line:?} in:\n{text}"
        );
    }
}

#[tokio::test]
async fn health_answers_and_readiness_checks_store_and_docker() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let (status, body) = app.get_json("/healthz").await;
    assert_eq!((status, body["status"].as_str()), (200, Some("ok")));
    let (status, body) = app.get_json("/readyz").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["checks"]["store"], "ok");
    assert!(
        body["checks"]["docker"]
            .as_str()
            .unwrap()
            .starts_with("ok: engine"),
        "{body}"
    );
}

#[tokio::test]
async fn readiness_is_503_with_the_reason_when_docker_is_unreachable() {
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        Some(API_TOKEN),
        "unix:///nonexistent/docker.sock",
    )
    .await;
    let (status, body) = app.get_json("/readyz").await;
    assert_eq!(status, 503, "{body}");
    let error = body["error"].as_str().unwrap();
    assert!(
        error.starts_with(
            "not ready: docker: cannot reach the Docker engine at unix:///nonexistent/docker.sock"
        ),
        "{error}"
    );
    assert_eq!(body["checks"]["store"], "ok");
}

#[tokio::test]
async fn without_a_configured_token_the_api_says_how_to_set_one() {
    let app = TestApp::spawn_with(Backend::Sqlite, None, &crate::harness::docker_host()).await;
    let (status, body) = app.get_json("/api/v1/sessions").await;
    assert_eq!(status, 401);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("set LUCID_API_TOKEN"),
        "{body}"
    );
}

#[tokio::test]
async fn a_missing_or_wrong_token_is_401() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let missing = app
        .http
        .get(app.url("/api/v1/sessions"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 401);
    let body: serde_json::Value = missing.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("Authorization"));

    let wrong = app
        .http
        .get(app.url("/api/v1/sessions"))
        .bearer_auth("test-token-0123456780")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let body: serde_json::Value = wrong.json().await.unwrap();
    assert_eq!(body["error"], "wrong API token");
}

#[tokio::test]
async fn bad_requests_get_json_errors_with_the_reason() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let cases = [
        ("/api/v1/sessions?state=paused", 400, "not a session state"),
        (
            "/api/v1/sessions?limit=0",
            400,
            "limit must be between 1 and 200",
        ),
        ("/api/v1/sessions?limit=abc", 400, "limit"),
        ("/api/v1/sessions?colour=red", 400, "unknown field `colour`"),
        ("/api/v1/sessions?before=nope", 400, "not a session id"),
        ("/api/v1/sessions/nope", 400, "not a session id"),
        ("/api/v1/no-such-thing", 404, "no such route"),
    ];
    for (path, status, needle) in cases {
        let (got, body) = app.get_json(path).await;
        assert_eq!(got, status, "{path}: {body}");
        let error = body["error"].as_str().unwrap_or_default();
        assert!(error.contains(needle), "{path}: {error:?} lacks {needle:?}");
    }
    let unknown = SessionId::new();
    let (status, body) = app.get_json(&format!("/api/v1/sessions/{unknown}")).await;
    assert_eq!(status, 404);
    assert_eq!(body["error"], format!("session {unknown} not found"));
    let (status, _) = app
        .get_json(&format!("/api/v1/sessions/{unknown}/events"))
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_wrong_method_is_405_in_json() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let response = app.http.post(app.url("/healthz")).send().await.unwrap();
    assert_eq!(response.status(), 405);
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(body["error"].is_string());
}
