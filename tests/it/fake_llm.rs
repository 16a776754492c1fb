//! A fake OpenAI-compatible chat-completions server on loopback: each request gets
//! the next scripted reply, and every request is recorded for the test to inspect.
//! `GET /v1/models` lists the one model, `fake-model`, in OpenAI's shape
//! (https://platform.openai.com/docs/api-reference/models/list); a key the test
//! refused (`refuse_key`) gets OpenAI's 401 `invalid_api_key` there.

use crate::scripted::{Scripted, ScriptedServer, StreamEnd, frame, halves};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

#[derive(Clone, Debug)]
pub struct Reply(Scripted);

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
        Self(Scripted {
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
            stream_end: StreamEnd::Whole,
        })
    }

    /// The model also says something beside its tool call.
    pub fn saying(mut self, text: &str) -> Self {
        self.0.body["choices"][0]["message"]["content"] = json!(text);
        self
    }

    /// An error as OpenAI words it.
    pub fn error(status: u16, message: &str) -> Self {
        Self(Scripted {
            status,
            body: json!({"error": {"message": message, "type": "error", "code": null}}),
            retry_after: None,
            stream_end: StreamEnd::Whole,
        })
    }

    pub fn retry_after(mut self, seconds: &str) -> Self {
        self.0.retry_after = Some(seconds.to_owned());
        self
    }

    /// Streamed, the connection is cut after `events` events.
    pub fn cut_after(mut self, events: usize) -> Self {
        self.0.stream_end = StreamEnd::CutAfter(events);
        self
    }

    /// Streamed, nothing more comes after `events` events.
    pub fn stall_after(mut self, events: usize) -> Self {
        self.0.stream_end = StreamEnd::StallAfter(events);
        self
    }
}

#[derive(Clone, Debug)]
pub struct Received {
    pub authorization: String,
    pub body: Value,
}

pub struct FakeLlm {
    /// What a client is configured with: `http://127.0.0.1:PORT/v1`.
    pub base_url: String,
    server: ScriptedServer,
    refused: Arc<Mutex<Vec<String>>>,
}

/// `GET /v1/models`: the listing, for a key not refused.
async fn models(
    axum::extract::State(refused): axum::extract::State<Arc<Mutex<Vec<String>>>>,
    headers: axum::http::HeaderMap,
) -> (axum::http::StatusCode, axum::Json<Value>) {
    let key = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default()
        .to_owned();
    if key.is_empty() || refused.lock().unwrap().contains(&key) {
        let shown: String = key.chars().take(3).collect();
        return (
            axum::http::StatusCode::UNAUTHORIZED,
            axum::Json(json!({"error": {
                "message": format!("Incorrect API key provided: {shown}***. You can find your API key at https://platform.openai.com/account/api-keys."),
                "type": "invalid_request_error",
                "param": null,
                "code": "invalid_api_key",
            }})),
        );
    }
    (
        axum::http::StatusCode::OK,
        axum::Json(json!({
            "object": "list",
            "data": [{"id": "fake-model", "object": "model", "created": 1_700_000_000, "owned_by": "fake"}],
        })),
    )
}

impl FakeLlm {
    pub async fn start(replies: Vec<Reply>) -> FakeLlm {
        let replies = replies.into_iter().map(|r| r.0).collect();
        let refused = Arc::new(Mutex::new(Vec::new()));
        let listing = axum::Router::new()
            .route("/v1/models", axum::routing::get(models))
            .with_state(refused.clone());
        let server =
            ScriptedServer::start_with("/v1/chat/completions", replies, stream, listing).await;
        FakeLlm {
            base_url: format!("{}/v1", server.origin),
            server,
            refused,
        }
    }

    /// From now on `key` is refused where the fake checks keys (`GET /v1/models`).
    pub fn refuse_key(&self, key: &str) {
        self.refused.lock().unwrap().push(key.to_owned());
    }

    /// Scripts more replies, after those still to come.
    pub fn add_replies(&self, replies: Vec<Reply>) {
        self.server
            .add_replies(replies.into_iter().map(|r| r.0).collect());
    }

    pub async fn until_a_stream_stalls(&self) {
        self.server.until_a_stream_stalls().await
    }

    /// Whether any request the model received holds `words` (a follow-up, say).
    pub fn heard(&self, words: &str) -> bool {
        self.received()
            .iter()
            .any(|r| r.body.to_string().contains(words))
    }

    /// When each request came, in order.
    pub fn arrivals(&self) -> Vec<std::time::Instant> {
        self.server.received().iter().map(|r| r.at).collect()
    }

    pub fn received(&self) -> Vec<Received> {
        self.server
            .received()
            .into_iter()
            .map(|r| Received {
                authorization: r.header("authorization"),
                body: r.body,
            })
            .collect()
    }
}

/// A chat completion as OpenAI streams it: the words in pieces, each tool call's
/// name then its arguments in pieces, the finish reason, usage in a chunk of its own
/// (`stream_options.include_usage`), then `[DONE]`.
fn stream(completion: &Value) -> Vec<String> {
    let chunk = |choices: Value| {
        frame(
            None,
            &json!({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "model": "fake-model", "choices": choices}),
        )
    };
    let delta = |delta: Value| chunk(json!([{"index": 0, "delta": delta, "finish_reason": null}]));
    let message = &completion["choices"][0]["message"];
    let mut frames = vec![delta(json!({"role": "assistant", "content": ""}))];
    if let Some(text) = message["content"].as_str() {
        frames.extend(halves(text).iter().map(|t| delta(json!({"content": t}))));
    }
    for (index, call) in message["tool_calls"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        frames.push(delta(
            json!({"tool_calls": [{"index": index, "id": call["id"], "type": "function",
            "function": {"name": call["function"]["name"], "arguments": ""}}]}),
        ));
        for piece in halves(call["function"]["arguments"].as_str().unwrap_or_default()) {
            frames.push(delta(
                json!({"tool_calls": [{"index": index, "function": {"arguments": piece}}]}),
            ));
        }
    }
    frames.push(chunk(json!([{"index": 0, "delta": {}, "finish_reason": completion["choices"][0]["finish_reason"]}])));
    frames.push(frame(
        None,
        &json!({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "choices": [], "usage": completion["usage"]}),
    ));
    frames.push("data: [DONE]\n\n".to_owned());
    frames
}
