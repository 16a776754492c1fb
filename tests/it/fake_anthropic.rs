//! A fake Anthropic Messages API on loopback: each request gets the next scripted
//! reply, and every request is recorded (its auth headers and JSON body) for the test
//! to inspect.

use crate::scripted::{Scripted, ScriptedServer, StreamEnd, frame, halves};
use serde_json::{Value, json};

#[derive(Clone, Debug)]
pub struct Reply(Scripted);

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
        Self(Scripted {
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
            stream_end: StreamEnd::Whole,
        })
    }

    /// An error as Anthropic words it; `kind` like `rate_limit_error`.
    pub fn error(status: u16, kind: &str, message: &str) -> Self {
        Self(Scripted {
            status,
            body: json!({"type": "error", "error": {"type": kind, "message": message}}),
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
}

#[derive(Clone, Debug)]
pub struct Received {
    pub api_key: String,
    pub version: String,
    pub body: Value,
}

pub struct FakeAnthropic {
    /// What a client is configured with: `http://127.0.0.1:PORT` (no version).
    pub base_url: String,
    server: ScriptedServer,
}

impl FakeAnthropic {
    pub async fn start(replies: Vec<Reply>) -> FakeAnthropic {
        let replies = replies.into_iter().map(|r| r.0).collect();
        let server = ScriptedServer::start("/v1/messages", replies, stream).await;
        FakeAnthropic {
            base_url: server.origin.clone(),
            server,
        }
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
                api_key: r.header("x-api-key"),
                version: r.header("anthropic-version"),
                body: r.body,
            })
            .collect()
    }
}

/// A message as Anthropic streams it: `message_start`, each block's start, deltas
/// and stop (text in pieces, a tool call's input as pieces of JSON text), a `ping`,
/// `message_delta` with the output tokens, `message_stop`.
fn stream(message: &Value) -> Vec<String> {
    let event = |kind: &str, mut data: Value| {
        data["type"] = json!(kind);
        frame(Some(kind), &data)
    };
    let mut started = message.clone();
    started["content"] = json!([]);
    started["stop_reason"] = Value::Null;
    started["usage"]["output_tokens"] = json!(1);
    let mut frames = vec![
        event("message_start", json!({"message": started})),
        event("ping", json!({})),
    ];
    for (index, block) in message["content"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        let (start, pieces) = match block["type"].as_str() {
            Some("tool_use") => {
                let mut start = block.clone();
                start["input"] = json!({});
                let pieces = halves(&block["input"].to_string())
                    .into_iter()
                    .map(|p| json!({"type": "input_json_delta", "partial_json": p}))
                    .collect::<Vec<_>>();
                (start, pieces)
            }
            _ => {
                let text = block["text"].as_str().unwrap_or_default();
                let pieces = halves(text)
                    .into_iter()
                    .map(|p| json!({"type": "text_delta", "text": p}))
                    .collect();
                (json!({"type": "text", "text": ""}), pieces)
            }
        };
        frames.push(event(
            "content_block_start",
            json!({"index": index, "content_block": start}),
        ));
        for delta in pieces {
            frames.push(event(
                "content_block_delta",
                json!({"index": index, "delta": delta}),
            ));
        }
        frames.push(event("content_block_stop", json!({"index": index})));
    }
    frames.push(event(
        "message_delta",
        json!({"delta": {"stop_reason": message["stop_reason"], "stop_sequence": null},
               "usage": {"output_tokens": message["usage"]["output_tokens"]}}),
    ));
    frames.push(event("message_stop", json!({})));
    frames
}
