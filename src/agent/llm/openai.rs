//! Any OpenAI-compatible chat-completions API (OpenAI, OpenRouter, vLLM, Ollama,
//! LiteLLM, ...): `POST {base}/chat/completions` with `tools`, answers with
//! `tool_calls`.

use super::retry::RetryPolicy;
use super::{ChatModel, ChatRequest, Completion, LlmError, Message, Role, TokenUsage, ToolCall};
use async_trait::async_trait;
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Value, json};
use std::time::Duration;

pub struct OpenAiClient {
    http: reqwest::Client,
    /// Up to and including the version, e.g. `https://api.openai.com/v1`.
    base_url: String,
    api_key: SecretString,
    retry: RetryPolicy,
}

impl OpenAiClient {
    pub fn new(
        base_url: &str,
        api_key: SecretString,
        timeout: Duration,
        retry: RetryPolicy,
    ) -> Self {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .expect("a client with only a timeout always builds");
        Self {
            http,
            base_url: base_url.trim_end_matches('/').to_owned(),
            api_key,
            retry,
        }
    }

    /// The provider's words, with the key taken out should it echo it back.
    fn redact(&self, text: &str) -> String {
        let key = self.api_key.expose_secret();
        if key.len() >= 8 {
            text.replace(key, "[redacted]")
        } else {
            text.to_owned()
        }
    }
}

#[async_trait]
impl ChatModel for OpenAiClient {
    async fn complete(&self, request: &ChatRequest<'_>) -> Result<Completion, LlmError> {
        let body = request_body(request);
        let url = format!("{}/chat/completions", self.base_url);
        let mut last = String::new();
        for attempt in 1..=self.retry.attempts {
            let sent = self
                .http
                .post(&url)
                .bearer_auth(self.api_key.expose_secret())
                .json(&body)
                .send()
                .await;
            let response = match sent {
                Ok(response) => response,
                Err(e) => {
                    // Network trouble and timeouts are worth another try.
                    last = describe(&e);
                    if attempt < self.retry.attempts {
                        tokio::time::sleep(self.retry.delay(attempt, None)).await;
                    }
                    continue;
                }
            };
            let status = response.status();
            if status.is_success() {
                let text = response
                    .text()
                    .await
                    .map_err(|e| LlmError::BadResponse(describe(&e)))?;
                return parse_completion(&text);
            }
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let message = self.redact(&error_message(&response.text().await.unwrap_or_default()));
            match status {
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                    return Err(LlmError::Auth {
                        status: status.as_u16(),
                        message,
                    });
                }
                s if s == StatusCode::TOO_MANY_REQUESTS || s.is_server_error() => {
                    last = format!("{}: {message}", s.as_u16());
                    if attempt < self.retry.attempts {
                        tokio::time::sleep(self.retry.delay(attempt, retry_after.as_deref())).await;
                    }
                }
                s => {
                    return Err(LlmError::Rejected {
                        status: s.as_u16(),
                        message,
                    });
                }
            }
        }
        Err(LlmError::Unavailable {
            attempts: self.retry.attempts,
            last,
        })
    }
}

/// What went wrong, without reqwest's text, which names the URL (a proxy URL can
/// carry credentials).
fn describe(e: &reqwest::Error) -> String {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_body() || e.is_decode() {
        "the answer broke off"
    } else {
        "the request failed"
    };
    what.to_owned()
}

fn request_body(request: &ChatRequest<'_>) -> Value {
    let mut body = json!({
        "model": request.model,
        "messages": request.messages.iter().map(message_json).collect::<Vec<_>>(),
        "stream": false,
    });
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
    prompt_tokens: u64,
    completion_tokens: u64,
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

/// The `error.message` of an error body, or the body itself, shortened.
fn error_message(body: &str) -> String {
    let message = serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
        .unwrap_or_else(|| body.trim().to_owned());
    message.chars().take(300).collect()
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
        let body = request_body(&ChatRequest {
            model: "m",
            messages: &messages,
            tools: &tools,
            max_tokens: Some(100),
        });
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
