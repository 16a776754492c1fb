//! Any OpenAI-compatible chat-completions API (OpenAI, OpenRouter, vLLM, Ollama,
//! LiteLLM, ...): `POST {base}/chat/completions` with `tools`, answers with
//! `tool_calls`, streamed (the default) or whole.

mod stream;

use super::retry::RetryPolicy;
use super::transport::{ReadError, Transport, body_text};
use super::{ChatModel, ChatRequest, Completion, LlmError, Message, Role, TokenUsage, ToolCall};
use async_trait::async_trait;
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::{Value, json};
use std::time::Duration;

pub struct OpenAiClient {
    transport: Transport,
    /// Up to and including the version, e.g. `https://api.openai.com/v1`.
    base_url: String,
    /// Streamed answers can be stopped mid-way and never idle long enough for a
    /// proxy to cut them; some compatible servers only do whole answers.
    stream: bool,
}

impl OpenAiClient {
    pub fn new(
        base_url: &str,
        api_key: SecretString,
        timeout: Duration,
        retry: RetryPolicy,
    ) -> Self {
        Self {
            transport: Transport::new(api_key, timeout, retry),
            base_url: base_url.trim_end_matches('/').to_owned(),
            stream: true,
        }
    }

    /// Asks for whole answers instead of streamed ones when `stream` is false.
    pub fn streaming(mut self, stream: bool) -> Self {
        self.stream = stream;
        self
    }
}

#[async_trait]
impl ChatModel for OpenAiClient {
    async fn complete(&self, request: &ChatRequest<'_>) -> Result<Completion, LlmError> {
        let body = request_body(request, self.stream);
        let url = format!("{}/chat/completions", self.base_url);
        let http = &self.transport.http;
        let post = || {
            http.post(&url)
                .bearer_auth(self.transport.key())
                .json(&body)
        };
        if self.stream {
            self.transport.send(post, stream::read).await
        } else {
            self.transport.send(post, read_whole).await
        }
    }
}

async fn read_whole(response: reqwest::Response) -> Result<Completion, ReadError> {
    parse_completion(&body_text(response).await?).map_err(ReadError::Invalid)
}

fn request_body(request: &ChatRequest<'_>, stream: bool) -> Value {
    let mut body = json!({
        "model": request.model,
        "messages": request.messages.iter().map(message_json).collect::<Vec<_>>(),
        "stream": stream,
    });
    if stream {
        body["stream_options"] = json!({"include_usage": true});
    }
    if !request.tools.is_empty() {
        body["tools"] = request
            .tools
            .iter()
            .map(|t| {
                json!({
                    "type": "function",
                    "function": {"name": t.name, "description": t.description, "parameters": t.parameters},
                })
            })
            .collect();
    }
    if let Some(max) = request.max_tokens {
        body["max_tokens"] = json!(max);
    }
    body
}

fn message_json(message: &Message) -> Value {
    match message.role {
        Role::System => json!({"role": "system", "content": message.content}),
        Role::User => json!({"role": "user", "content": message.content}),
        Role::Tool => json!({
            "role": "tool",
            "tool_call_id": message.tool_call_id,
            "content": message.content,
        }),
        Role::Assistant => {
            let mut m = json!({"role": "assistant", "content": message.content});
            if !message.tool_calls.is_empty() {
                m["tool_calls"] = message
                    .tool_calls
                    .iter()
                    .map(|c| {
                        json!({
                            "id": c.id,
                            "type": "function",
                            "function": {"name": c.name, "arguments": c.arguments},
                        })
                    })
                    .collect();
            }
            m
        }
    }
}

#[derive(Deserialize)]
struct WireCompletion {
    choices: Vec<WireChoice>,
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
struct WireChoice {
    message: WireMessage,
}

#[derive(Deserialize)]
struct WireMessage {
    content: Option<String>,
    #[serde(default)]
    tool_calls: Vec<WireToolCall>,
}

#[derive(Deserialize)]
struct WireToolCall {
    id: String,
    function: WireFunction,
}

#[derive(Deserialize)]
struct WireFunction {
    name: String,
    #[serde(default)]
    arguments: String,
}

#[derive(Deserialize)]
struct WireUsage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

fn parse_completion(text: &str) -> Result<Completion, LlmError> {
    let wire: WireCompletion = serde_json::from_str(text)
        .map_err(|e| LlmError::BadResponse(format!("not a chat completion: {e}")))?;
    let choice = wire
        .choices
        .into_iter()
        .next()
        .ok_or_else(|| LlmError::BadResponse("no choices in the answer".into()))?;
    Ok(Completion {
        text: choice.message.content.unwrap_or_default(),
        tool_calls: choice
            .message
            .tool_calls
            .into_iter()
            .map(|c| ToolCall {
                id: c.id,
                name: c.function.name,
                arguments: c.function.arguments,
            })
            .collect(),
        usage: wire.usage.map_or_else(TokenUsage::default, |u| TokenUsage {
            input: u.prompt_tokens,
            output: u.completion_tokens,
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::llm::ToolSpec;

    #[test]
    fn requests_carry_messages_and_tools_in_the_wire_shape() {
        let messages = [
            Message::system("be brief"),
            Message::user("fix it"),
            Message::assistant(
                "",
                vec![ToolCall {
                    id: "c1".into(),
                    name: "run".into(),
                    arguments: "{\"command\":\"ls\"}".into(),
                }],
            ),
            Message::tool_result("c1", "a.rs"),
        ];
        let tools = [ToolSpec {
            name: "run".into(),
            description: "run a command".into(),
            parameters: json!({"type": "object"}),
        }];
        let body = request_body(
            &ChatRequest {
                model: "m",
                messages: &messages,
                tools: &tools,
                max_tokens: Some(100),
            },
            true,
        );
        assert_eq!(body["stream_options"]["include_usage"], true);
        assert_eq!(
            body["messages"][2]["tool_calls"][0]["function"]["name"],
            "run"
        );
        assert_eq!(
            body["messages"][3],
            json!({"role": "tool", "tool_call_id": "c1", "content": "a.rs"})
        );
        assert_eq!(body["tools"][0]["type"], "function");
        assert_eq!(body["max_tokens"], 100);
    }

    #[test]
    fn an_answer_without_choices_is_a_bad_response() {
        assert!(matches!(
            parse_completion("{\"choices\":[]}"),
            Err(LlmError::BadResponse(_))
        ));
        assert!(matches!(
            parse_completion("<html>"),
            Err(LlmError::BadResponse(_))
        ));
    }
}
