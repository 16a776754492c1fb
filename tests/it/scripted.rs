//! A fake HTTP API on loopback, the common part of the fake model servers: each
//! request to its one route gets the next scripted reply, and every request is
//! recorded (headers and JSON body) for the test to inspect. A request that asks for
//! `"stream": true` gets the scripted answer as Server-Sent Events, cut into pieces
//! the way the provider streams (each fake gives its own `Streamer`), and a script
//! can cut the stream or stall it part-way.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::Value;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// One scripted answer.
#[derive(Clone, Debug)]
pub struct Scripted {
    pub status: u16,
    pub body: Value,
    pub retry_after: Option<String>,
    pub stream_end: StreamEnd,
}

/// How a streamed answer ends.
#[derive(Clone, Copy, Debug, Default)]
pub enum StreamEnd {
    #[default]
    Whole,
    /// The connection is cut after this many events.
    CutAfter(usize),
    /// After this many events nothing more comes, and the connection stays open.
    StallAfter(usize),
}

/// Turns a whole answer into the Server-Sent Event frames of its stream.
pub type Streamer = fn(&Value) -> Vec<String>;

#[derive(Clone, Debug)]
pub struct Recorded {
    pub headers: HeaderMap,
    pub body: Value,
    /// When the request came.
    pub at: std::time::Instant,
}

impl Recorded {
    /// A header's value, or "" when absent.
    pub fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    }
}

#[derive(Default)]
struct Script {
    streamer: Option<Streamer>,
    replies: Mutex<VecDeque<Scripted>>,
    received: Mutex<Vec<Recorded>>,
    /// Streams that have sent what they were to send and now stall.
    stalled: std::sync::atomic::AtomicUsize,
    changed: tokio::sync::Notify,
}

pub struct ScriptedServer {
    /// `http://127.0.0.1:PORT`
    pub origin: String,
    script: Arc<Script>,
}

impl ScriptedServer {
    pub async fn start(route: &str, replies: Vec<Scripted>, streamer: Streamer) -> ScriptedServer {
        Self::start_with(route, replies, streamer, axum::Router::new()).await
    }

    /// [`ScriptedServer::start`], serving the `extra` routes too.
    pub async fn start_with(
        route: &str,
        replies: Vec<Scripted>,
        streamer: Streamer,
        extra: axum::Router,
    ) -> ScriptedServer {
        let script = Arc::new(Script {
            streamer: Some(streamer),
            ..Script::default()
        });
        script.replies.lock().unwrap().extend(replies);
        let app = axum::Router::new()
            .route(route, post(answer))
            .with_state(script.clone())
            .merge(extra);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let origin = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        ScriptedServer { origin, script }
    }

    pub fn received(&self) -> Vec<Recorded> {
        self.script.received.lock().unwrap().clone()
    }

    /// Adds replies after those still to come (a script that needs an address known
    /// only once the servers run).
    pub fn add_replies(&self, replies: Vec<Scripted>) {
        self.script.replies.lock().unwrap().extend(replies);
    }

    /// Waits until a streamed answer has sent its first events and stalls.
    pub async fn until_a_stream_stalls(&self) {
        use std::sync::atomic::Ordering;
        crate::harness::within("a stream to stall", async {
            loop {
                let changed = self.script.changed.notified();
                if self.script.stalled.load(Ordering::SeqCst) > 0 {
                    return;
                }
                changed.await;
            }
        })
        .await
    }
}

async fn answer(
    State(script): State<Arc<Script>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let wants_stream = body["stream"] == true;
    script.received.lock().unwrap().push(Recorded {
        headers,
        body,
        at: std::time::Instant::now(),
    });
    let Some(reply) = script.replies.lock().unwrap().pop_front() else {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            "the test scripted no more replies",
        )
            .into_response();
    };
    let mut response = match script.streamer {
        Some(streamer) if wants_stream && reply.status == 200 => {
            event_stream(streamer(&reply.body), reply.stream_end, script.clone())
        }
        _ => (
            StatusCode::from_u16(reply.status).unwrap(),
            Json(reply.body),
        )
            .into_response(),
    };
    if let Some(seconds) = reply.retry_after {
        response
            .headers_mut()
            .insert("retry-after", seconds.parse().unwrap());
    }
    response
}

fn event_stream(frames: Vec<String>, end: StreamEnd, script: Arc<Script>) -> Response {
    use futures::StreamExt;
    let sent = match end {
        StreamEnd::Whole => frames.len(),
        StreamEnd::CutAfter(n) | StreamEnd::StallAfter(n) => n.min(frames.len()),
    };
    let frames = frames
        .into_iter()
        .take(sent)
        .map(|frame| Ok::<_, std::io::Error>(bytes::Bytes::from(frame)));
    let tail: futures::stream::BoxStream<'static, Result<bytes::Bytes, std::io::Error>> = match end
    {
        StreamEnd::Whole => futures::stream::empty().boxed(),
        // An error in the body makes the server drop the connection mid-answer.
        StreamEnd::CutAfter(_) => {
            futures::stream::once(async { Err(std::io::Error::other("cut by the test")) }).boxed()
        }
        // The body is polled for more once the events before it were handed over.
        StreamEnd::StallAfter(_) => futures::stream::once(async move {
            script
                .stalled
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            script.changed.notify_waiters();
        })
        .filter_map(|()| async { None })
        .chain(futures::stream::pending())
        .boxed(),
    };
    let body = axum::body::Body::from_stream(futures::stream::iter(frames).chain(tail));
    Response::builder()
        .header("content-type", "text/event-stream")
        .body(body)
        .unwrap()
}

/// One Server-Sent Event frame.
pub fn frame(event: Option<&str>, data: &Value) -> String {
    match event {
        Some(event) => format!("event: {event}\ndata: {data}\n\n"),
        None => format!("data: {data}\n\n"),
    }
}

/// Text in two pieces, so that clients must put it back together.
pub fn halves(text: &str) -> Vec<String> {
    let mid = text
        .char_indices()
        .nth(text.chars().count() / 2)
        .map_or(0, |(i, _)| i);
    vec![text[..mid].to_owned(), text[mid..].to_owned()]
}
