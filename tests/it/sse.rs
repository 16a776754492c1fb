//! The live event stream: events as they happen, resumption with Last-Event-ID, and
//! the end of the stream when the session finishes.

use crate::harness::{API_TOKEN, Backend, SseReader, TestApp, new_session, on_both_stores, within};
use lucid::core::{EventBody, SessionState};

on_both_stores!(the_stream_delivers_live_events_and_resumes_after_a_disconnect);

async fn open(app: &TestApp, path: &str, last_event_id: Option<&str>) -> SseReader {
    let mut request = app.http.get(app.url(path)).bearer_auth(API_TOKEN);
    if let Some(id) = last_event_id {
        request = request.header("Last-Event-ID", id);
    }
    let response = within("the stream to open", request.send()).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "text/event-stream"
    );
    SseReader::new(response)
}

fn thought(text: &str) -> EventBody {
    EventBody::Thought { text: text.into() }
}

async fn the_stream_delivers_live_events_and_resumes_after_a_disconnect(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let s = new_session(&app.store, "d-sse").await;
    let path = format!("/api/v1/sessions/{}/events/stream", s.id);

    let mut stream = open(&app, &path, None).await;
    let first = stream.next().await.unwrap();
    assert_eq!(first.id.as_deref(), Some("1"));
    assert_eq!(first.event.as_deref(), Some("status"));

    // Appended while the client is connected: it arrives without a new request.
    app.store
        .append_event(s.id, thought("reading the code"))
        .await
        .unwrap();
    let live = stream.next().await.unwrap();
    assert_eq!(live.id.as_deref(), Some("2"));
    let data: serde_json::Value = serde_json::from_str(&live.data).unwrap();
    assert_eq!(data["text"], "reading the code");
    assert_eq!(data["seq"], 2);

    // The client goes away; work goes on.
    drop(stream);
    app.store
        .append_event(s.id, thought("missed 1"))
        .await
        .unwrap();
    app.store
        .append_event(s.id, thought("missed 2"))
        .await
        .unwrap();

    let mut resumed = open(&app, &path, Some("2")).await;
    let ids = [
        resumed.next().await.unwrap().id.unwrap(),
        resumed.next().await.unwrap().id.unwrap(),
    ];
    assert_eq!(ids, ["3", "4"]);

    // The session finishes: its final status arrives and the stream ends.
    for to in [
        SessionState::Provisioning,
        SessionState::Running,
        SessionState::Completed,
    ] {
        app.store.transition(s.id, to, None, None).await.unwrap();
    }
    let mut rest = Vec::new();
    while let Some(event) = resumed.next().await {
        rest.push(event.id.unwrap());
    }
    assert_eq!(rest, ["5", "6", "7"]);
}

#[tokio::test]
async fn a_finished_session_streams_its_whole_log_then_ends() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let s = new_session(&app.store, "d-done").await;
    app.store
        .transition(
            s.id,
            SessionState::Cancelled,
            Some("stopped by ada".into()),
            None,
        )
        .await
        .unwrap();
    let mut stream = open(
        &app,
        &format!("/api/v1/sessions/{}/events/stream", s.id),
        None,
    )
    .await;
    let mut kinds = Vec::new();
    while let Some(event) = stream.next().await {
        kinds.push(event.event.unwrap());
    }
    assert_eq!(kinds, ["status", "status"]);
}

#[tokio::test]
async fn a_malformed_last_event_id_is_400() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let s = new_session(&app.store, "d-bad").await;
    let response = app
        .http
        .get(app.url(&format!("/api/v1/sessions/{}/events/stream", s.id)))
        .bearer_auth(API_TOKEN)
        .header("Last-Event-ID", "yesterday")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
}
