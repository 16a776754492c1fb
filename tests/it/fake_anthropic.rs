//! A fake Anthropic Messages API on loopback: each request gets the next scripted
//! reply, and every request is recorded (its auth headers and JSON body) for the test
//! to inspect.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

#[derive(Clone, Debug)]
pub struct Reply {
    status: u16,
    body: Value,
    retry_after: Option<String>,
}

impl Reply {
    pub fn text(text: &str, input_tokens: u64, output_tokens: u64) -> Self {
        Self::message(
            json!([{"type": "text", "text": text}]),
            "end_turn",
            input_tokens,
            output_tokens,
        )
    }

    /// A turn with some words and one `tool_use` block.
    pub fn tool_use(text: &str, id: &str, name: &str, input: Value) -> Self {
        Self::message(
            json!([
                {"type": "text", "text": text},
                {"type": "tool_use", "id": id, "name": name, "input": input},
            ]),
            "tool_use",
            10,
            5,
        )
    }

    fn message(content: Value, stop_reason: &str, input_tokens: u64, output_tokens: u64) -> Self {
        Self {
            status: 200,
            body: json!({
                "id": "msg_fake",
                "type": "message",
                "role": "assistant",
                "model": "fake-model",
                "content": content,
                "stop_reason": stop_reason,
                "stop_sequence": null,
                "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens},
            }),
            retry_after: None,
        }
    }

    /// An error as Anthropic words it; `kind` like `rate_limit_error`.
    pub fn error(status: u16, kind: &str, message: &str) -> Self {
        Self {
            status,
            body: json!({"type": "error", "error": {"type": kind, "message": message}}),
            retry_after: None,
        }
    }

    pub fn retry_after(mut self, seconds: &str) -> Self {
        self.retry_after = Some(seconds.to_owned());
        self
    }
}

#[derive(Clone, Debug)]
pub struct Received {
    pub api_key: String,
    pub version: String,
    pub body: Value,
}

#[derive(Default)]
struct Script {
    replies: Mutex<VecDeque<Reply>>,
    received: Mutex<Vec<Received>>,
}

pub struct FakeAnthropic {
    /// What a client is configured with: `http://127.0.0.1:PORT` (no version).
    pub base_url: String,
    script: Arc<Script>,
}

impl FakeAnthropic {
    pub async fn start(replies: Vec<Reply>) -> FakeAnthropic {
        let script = Arc::new(Script::default());
        script.replies.lock().unwrap().extend(replies);
        let app = axum::Router::new()
            .route("/v1/messages", post(answer))
            .with_state(script.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        FakeAnthropic { base_url, script }
    }

    pub fn received(&self) -> Vec<Received> {
        self.script.received.lock().unwrap().clone()
    }
}

fn header(headers: &HeaderMap, name: &str) -> String {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

async fn answer(
    State(script): State<Arc<Script>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    script.received.lock().unwrap().push(Received {
        api_key: header(&headers, "x-api-key"),
        version: header(&headers, "anthropic-version"),
        body,
    });
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
