//! A fake OpenAI-compatible chat-completions server on loopback: each request gets
//! the next scripted reply, and every request is recorded for the test to inspect.

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
        Self::completion(
            json!({"role": "assistant", "content": text}),
            input_tokens,
            output_tokens,
        )
    }

    pub fn tool_call(id: &str, name: &str, arguments: &str) -> Self {
        let message = json!({
            "role": "assistant",
            "content": null,
            "tool_calls": [{"id": id, "type": "function", "function": {"name": name, "arguments": arguments}}],
        });
        Self::completion(message, 10, 5)
    }

    fn completion(message: Value, input_tokens: u64, output_tokens: u64) -> Self {
        Self {
            status: 200,
            body: json!({
                "id": "chatcmpl-fake",
                "object": "chat.completion",
                "model": "fake-model",
                "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": input_tokens, "completion_tokens": output_tokens,
                          "total_tokens": input_tokens + output_tokens},
            }),
            retry_after: None,
        }
    }

    /// The model also says something beside its tool call.
    pub fn saying(mut self, text: &str) -> Self {
        self.body["choices"][0]["message"]["content"] = json!(text);
        self
    }

    /// An error as OpenAI words it.
    pub fn error(status: u16, message: &str) -> Self {
        Self {
            status,
            body: json!({"error": {"message": message, "type": "error", "code": null}}),
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
    pub authorization: String,
    pub body: Value,
}

#[derive(Default)]
struct Script {
    replies: Mutex<VecDeque<Reply>>,
    received: Mutex<Vec<Received>>,
}

pub struct FakeLlm {
    /// What a client is configured with: `http://127.0.0.1:PORT/v1`.
    pub base_url: String,
    script: Arc<Script>,
}

impl FakeLlm {
    pub async fn start(replies: Vec<Reply>) -> FakeLlm {
        let script = Arc::new(Script::default());
        script.replies.lock().unwrap().extend(replies);
        let app = axum::Router::new()
            .route("/v1/chat/completions", post(answer))
            .with_state(script.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}/v1", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        FakeLlm { base_url, script }
    }

    pub fn received(&self) -> Vec<Received> {
        self.script.received.lock().unwrap().clone()
    }
}

async fn answer(
    State(script): State<Arc<Script>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    script.received.lock().unwrap().push(Received {
        authorization: headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned(),
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
