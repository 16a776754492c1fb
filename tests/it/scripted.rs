//! A fake HTTP API on loopback, the common part of the fake model servers: each
//! request to its one route gets the next scripted reply, and every request is
//! recorded (headers and JSON body) for the test to inspect.

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
}

#[derive(Clone, Debug)]
pub struct Recorded {
    pub headers: HeaderMap,
    pub body: Value,
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
    replies: Mutex<VecDeque<Scripted>>,
    received: Mutex<Vec<Recorded>>,
}

pub struct ScriptedServer {
    /// `http://127.0.0.1:PORT`
    pub origin: String,
    script: Arc<Script>,
}

impl ScriptedServer {
    pub async fn start(route: &str, replies: Vec<Scripted>) -> ScriptedServer {
        let script = Arc::new(Script::default());
        script.replies.lock().unwrap().extend(replies);
        let app = axum::Router::new()
            .route(route, post(answer))
            .with_state(script.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let origin = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        ScriptedServer { origin, script }
    }

    pub fn received(&self) -> Vec<Recorded> {
        self.script.received.lock().unwrap().clone()
    }
}

async fn answer(
    State(script): State<Arc<Script>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    script
        .received
        .lock()
        .unwrap()
        .push(Recorded { headers, body });
    let Some(reply) = script.replies.lock().unwrap().pop_front() else {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            "the test scripted no more replies",
        )
            .into_response();
    };
    let mut response = (
        StatusCode::from_u16(reply.status).unwrap(),
        Json(reply.body),
    )
        .into_response();
    if let Some(seconds) = reply.retry_after {
        response
            .headers_mut()
            .insert("retry-after", seconds.parse().unwrap());
    }
    response
}
