//! Anthropic's Messages API: `POST {base}/v1/messages` with `x-api-key` and
//! `anthropic-version`, answers with `text` and `tool_use` content blocks.
//!
//! Where it differs from the OpenAI shape: the system prompt is a top-level field, not
//! a message; roles must alternate between `user` and `assistant`, so tool results
//! travel as `tool_result` blocks in a user turn; a tool call's input is a JSON object,
//! not JSON text. Answers are streamed by default (see `stream`).

mod stream;

use super::retry::RetryPolicy;
use super::transport::{ReadError, Transport, body_text};
use super::{ChatModel, ChatRequest, Completion, LlmError, Message, Role, TokenUsage, ToolCall};
use async_trait::async_trait;
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::time::Duration;

/// The API version lucid speaks; Anthropic pins the wire format to it.
const API_VERSION: &str = "2023-06-01";

/// Anthropic requires `max_tokens`; this is used when the request sets none.
const DEFAULT_MAX_TOKENS: u32 = 4096;

pub struct AnthropicClient {
    transport: Transport,
    /// e.g. `https://api.anthropic.com`.
    base_url: String,
    /// Streamed answers can be stopped mid-way and never idle long enough for a
    /// proxy to cut them.
    stream: bool,
}

impl AnthropicClient {
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
impl ChatModel for AnthropicClient {
    async fn complete(&self, request: &ChatRequest<'_>) -> Result<Completion, LlmError> {
        let mut body = request_body(request);
        if self.stream {
            body["stream"] = json!(true);
        }
        let url = format!("{}/v1/messages", self.base_url);
        let http = &self.transport.http;
        let post = || {
            http.post(&url)
                .header("x-api-key", self.transport.key())
                .header("anthropic-version", API_VERSION)
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

fn request_body(request: &ChatRequest<'_>) -> Value {
    let mut body = json!({
        "model": request.model,
        "max_tokens": request.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS),
        "messages": messages_json(request.messages),
    });
    let system: Vec<&str> = request
        .messages
        .iter()
        .filter(|m| m.role == Role::System && !m.content.is_empty())
        .map(|m| m.content.as_str())
        .collect();
    if !system.is_empty() {
        body["system"] = json!(system.join("\n\n"));
    }
    if !request.tools.is_empty() {
        body["tools"] = request
            .tools
            .iter()
            .map(|t| {
                json!({
                    "name": t.name,
                    "description": t.description,
                    "input_schema": t.parameters,
                })
            })
            .collect();
    }
    body
}

/// The conversation as alternating `user` / `assistant` turns. System messages go to
/// the top-level `system` field instead; tool results become `tool_result` blocks of
/// a user turn; consecutive messages of the same wire role are merged into one turn
/// (several tool results in a row, or a tool result followed by the user's words,
/// whose `tool_result` blocks then come first, as Anthropic requires).
fn messages_json(messages: &[Message]) -> Vec<Value> {
    let mut turns: Vec<(&'static str, Vec<Value>)> = Vec::new();
    for message in messages {
        let (role, blocks) = match message.role {
            Role::System => continue,
            Role::User => ("user", text_block(&message.content).into_iter().collect()),
            Role::Tool => {
                let mut result = json!({
                    "type": "tool_result",
                    "tool_use_id": message.tool_call_id.as_deref().unwrap_or_default(),
                });
                // `content` is optional, and blank text is refused: a command that
                // printed nothing answers with the bare block.
                if !message.content.trim().is_empty() {
                    result["content"] = json!(message.content);
                }
                ("user", vec![result])
            }
            Role::Assistant => {
                let mut blocks: Vec<Value> = text_block(&message.content).into_iter().collect();
                blocks.extend(message.tool_calls.iter().map(|c| {
                    json!({
                        "type": "tool_use",
                        "id": c.id,
                        "name": c.name,
                        "input": tool_input(&c.arguments),
                    })
                }));
                ("assistant", blocks)
            }
        };
        // Anthropic refuses a turn with no content at all; an empty message says
        // nothing, so it is left out.
        if blocks.is_empty() {
            continue;
        }
        match turns.last_mut() {
            Some((last_role, last_blocks)) if *last_role == role => last_blocks.extend(blocks),
            _ => turns.push((role, blocks)),
        }
    }
    turns
        .into_iter()
        .map(|(role, content)| json!({"role": role, "content": content}))
        .collect()
}

/// A `text` block, or none for empty text (Anthropic refuses empty text blocks).
fn text_block(text: &str) -> Option<Value> {
    (!text.trim().is_empty()).then(|| json!({"type": "text", "text": text}))
}

/// A tool call's arguments as the JSON object Anthropic's `input` must be.
///
/// The arguments are the model's own text and may be malformed (the tool reported
/// that back to the model); sending them back in the history must not fail the whole
/// request, so anything that is not a JSON object travels as `{"_raw": "<text>"}`,
/// which still shows the model what it wrote. Empty arguments mean no arguments.
fn tool_input(arguments: &str) -> Value {
    if arguments.trim().is_empty() {
        return Value::Object(Map::new());
    }
    match serde_json::from_str::<Value>(arguments) {
        Ok(object @ Value::Object(_)) => object,
        _ => json!({"_raw": arguments}),
    }
}

#[derive(Deserialize)]
struct WireMessage {
    content: Vec<WireBlock>,
    usage: Option<WireUsage>,
}

/// A content block of the answer; kinds lucid does not use (thinking, ...) are skipped.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum WireBlock {
    Text {
        text: String,
    },
    ToolUse {
        id: String,
        name: String,
        #[serde(default)]
        input: Value,
    },
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
struct WireUsage {
    #[serde(default)]
    input_tokens: u64,
    #[serde(default)]
    output_tokens: u64,
}

fn parse_completion(text: &str) -> Result<Completion, LlmError> {
    let wire: WireMessage = serde_json::from_str(text)
        .map_err(|e| LlmError::BadResponse(format!("not a Messages API answer: {e}")))?;
    let mut completion = Completion {
        usage: wire.usage.map_or_else(TokenUsage::default, |u| TokenUsage {
            input: u.input_tokens,
            output: u.output_tokens,
        }),
        ..Completion::default()
    };
    let mut texts = Vec::new();
    for block in wire.content {
        match block {
            WireBlock::Text { text } => texts.push(text),
            WireBlock::ToolUse { id, name, input } => {
                let input = if input.is_null() {
                    Value::Object(Map::new())
                } else {
                    input
                };
                completion.tool_calls.push(ToolCall {
                    id,
                    name,
                    arguments: input.to_string(),
                });
            }
            WireBlock::Other => {}
        }
    }
    // Blocks are pieces of one answer (citations even split sentences), so they are
    // joined as they stand.
    completion.text = texts.concat();
    Ok(completion)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::llm::ToolSpec;

    fn call(id: &str, arguments: &str) -> ToolCall {
        ToolCall {
            id: id.into(),
            name: "run".into(),
            arguments: arguments.into(),
        }
    }

    fn body(messages: &[Message], max_tokens: Option<u32>) -> Value {
        let tools = [ToolSpec {
            name: "run".into(),
            description: "run a command".into(),
            parameters: json!({"type": "object"}),
        }];
        request_body(&ChatRequest {
            model: "m",
            messages,
            tools: &tools,
            max_tokens,
        })
    }

    #[test]
    fn requests_carry_system_tools_and_blocks_in_the_wire_shape() {
        let messages = [
            Message::system("be brief"),
            Message::system("use the tools"),
            Message::user("fix it"),
            Message::assistant("Looking.", vec![call("c1", r#"{"command":"ls"}"#)]),
            Message::tool_result("c1", "a.rs"),
        ];
        let body = body(&messages, Some(100));
        assert_eq!(body["model"], "m");
        assert_eq!(body["max_tokens"], 100);
        assert_eq!(body["system"], "be brief\n\nuse the tools");
        assert_eq!(
            body["tools"],
            json!([{"name": "run", "description": "run a command", "input_schema": {"type": "object"}}])
        );
        assert_eq!(
            body["messages"],
            json!([
                {"role": "user", "content": [{"type": "text", "text": "fix it"}]},
                {"role": "assistant", "content": [
                    {"type": "text", "text": "Looking."},
                    {"type": "tool_use", "id": "c1", "name": "run", "input": {"command": "ls"}},
                ]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "c1", "content": "a.rs"},
                ]},
            ])
        );
    }

    #[test]
    fn max_tokens_is_always_sent_and_no_system_field_without_system_messages() {
        let body = body(&[Message::user("hi")], None);
        assert_eq!(body["max_tokens"], DEFAULT_MAX_TOKENS);
        assert!(body.get("system").is_none());
    }

    #[test]
    fn consecutive_tool_results_and_user_words_make_one_user_turn() {
        let messages = [
            Message::user("fix it"),
            Message::assistant("", vec![call("c1", "{}"), call("c2", "{}")]),
            Message::tool_result("c1", "one"),
            Message::tool_result("c2", ""),
            Message::user("and hurry"),
        ];
        let messages = body(&messages, None)["messages"].clone();
        let roles: Vec<&str> = messages
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["role"].as_str().unwrap())
            .collect();
        assert_eq!(roles, ["user", "assistant", "user"]);
        // No empty text block for the assistant's empty words.
        assert_eq!(messages[1]["content"][0]["type"], "tool_use");
        assert_eq!(
            messages[2]["content"],
            json!([
                {"type": "tool_result", "tool_use_id": "c1", "content": "one"},
                {"type": "tool_result", "tool_use_id": "c2"},
                {"type": "text", "text": "and hurry"},
            ])
        );
    }

    #[test]
    fn malformed_arguments_in_the_history_travel_as_raw_text() {
        assert_eq!(
            tool_input(r#"{"command": "cargo te"#),
            json!({"_raw": r#"{"command": "cargo te"#})
        );
        assert_eq!(tool_input("[1, 2]"), json!({"_raw": "[1, 2]"}));
        assert_eq!(tool_input(""), json!({}));
        assert_eq!(tool_input(r#"{"a": 1}"#), json!({"a": 1}));
    }

    #[test]
    fn answers_give_text_tool_calls_and_usage() {
        let completion = parse_completion(
            r#"{"id": "msg_1", "type": "message", "role": "assistant", "model": "m",
                "content": [
                    {"type": "thinking", "thinking": "hmm", "signature": "x"},
                    {"type": "text", "text": "Running it."},
                    {"type": "tool_use", "id": "toolu_1", "name": "run", "input": {"command": "ls"}}
                ],
                "stop_reason": "tool_use",
                "usage": {"input_tokens": 12, "output_tokens": 3}}"#,
        )
        .unwrap();
        assert_eq!(completion.text, "Running it.");
        assert_eq!(
            completion.tool_calls,
            [call("toolu_1", r#"{"command":"ls"}"#)]
        );
        assert_eq!(
            completion.usage,
            TokenUsage {
                input: 12,
                output: 3
            }
        );
    }

    #[test]
    fn an_answer_without_content_is_a_bad_response() {
        assert!(matches!(
            parse_completion(r#"{"usage": {}}"#),
            Err(LlmError::BadResponse(_))
        ));
        assert!(matches!(
            parse_completion("<html>"),
            Err(LlmError::BadResponse(_))
        ));
    }
}
