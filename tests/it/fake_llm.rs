//! A fake OpenAI-compatible chat-completions server on loopback: each request gets
//! the next scripted reply, and every request is recorded for the test to inspect.

use crate::scripted::{Scripted, ScriptedServer};
use serde_json::{Value, json};

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
        })
    }

    pub fn retry_after(mut self, seconds: &str) -> Self {
        self.0.retry_after = Some(seconds.to_owned());
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
}

impl FakeLlm {
    pub async fn start(replies: Vec<Reply>) -> FakeLlm {
        let replies = replies.into_iter().map(|r| r.0).collect();
        let server = ScriptedServer::start("/v1/chat/completions", replies).await;
        FakeLlm {
            base_url: format!("{}/v1", server.origin),
            server,
        }
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
