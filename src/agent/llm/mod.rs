//! Language models with tool calling, in lucid's own terms. Each provider's wire
//! format stays in its client; the agent sees messages, tool calls and usage.

mod anthropic;
mod openai;
mod retry;
mod transport;

pub use anthropic::AnthropicClient;
pub use openai::OpenAiClient;
pub use retry::RetryPolicy;

use async_trait::async_trait;
use serde_json::Value;

/// A tool the model may call, with its parameters as a JSON Schema.
#[derive(Clone, Debug, PartialEq)]
pub struct ToolSpec {
    pub name: String,
    pub description: String,
    pub parameters: Value,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    System,
    User,
    Assistant,
    /// The result of a tool call, given back to the model.
    Tool,
}

/// A call the model asked for. `arguments` is JSON text exactly as the model wrote it:
/// it may be malformed, and that is the tool's to report back, not the client's.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    pub arguments: String,
}

/// One turn of the conversation; saved as JSON so a finished session can resume.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Message {
    pub role: Role,
    pub content: String,
    /// What the assistant asked for in this turn.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// Which call a tool result answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
}

impl Message {
    fn plain(role: Role, content: impl Into<String>) -> Self {
        Self {
            role,
            content: content.into(),
            tool_calls: Vec::new(),
            tool_call_id: None,
        }
    }

    pub fn system(content: impl Into<String>) -> Self {
        Self::plain(Role::System, content)
    }

    pub fn user(content: impl Into<String>) -> Self {
        Self::plain(Role::User, content)
    }

    pub fn assistant(content: impl Into<String>, tool_calls: Vec<ToolCall>) -> Self {
        Self {
            tool_calls,
            ..Self::plain(Role::Assistant, content)
        }
    }

    pub fn tool_result(call_id: impl Into<String>, content: impl Into<String>) -> Self {
        Self {
            tool_call_id: Some(call_id.into()),
            ..Self::plain(Role::Tool, content)
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TokenUsage {
    pub input: u64,
    pub output: u64,
}

/// One answer of the model: its words, the calls it wants made, what it cost.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Completion {
    pub text: String,
    pub tool_calls: Vec<ToolCall>,
    pub usage: TokenUsage,
}

pub struct ChatRequest<'a> {
    pub model: &'a str,
    pub messages: &'a [Message],
    pub tools: &'a [ToolSpec],
    pub max_tokens: Option<u32>,
}

/// Why a model gave no answer, in words the session's thread can show.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    #[error("the model provider refused the API key ({status}): {message}")]
    Auth { status: u16, message: String },
    #[error("the model provider refused the request ({status}): {message}")]
    Rejected { status: u16, message: String },
    /// Every try failed (busy, failing, cut off, unanswered): how each went wrong,
    /// over how long, and the provider's last words.
    #[error("{}", unavailable(.troubles, .over, .last))]
    Unavailable {
        attempts: u32,
        over: std::time::Duration,
        troubles: Vec<crate::messages::ProviderTrouble>,
        last: String,
    },
    #[error("the model provider's answer made no sense: {0}")]
    BadResponse(String),
}

fn unavailable(
    troubles: &[crate::messages::ProviderTrouble],
    over: &std::time::Duration,
    last: &str,
) -> String {
    crate::messages::model_gave_no_answer(troubles, *over, last)
}

/// The client the settings name, ready to use.
pub fn connect(settings: &crate::config::LlmSettings) -> std::sync::Arc<dyn ChatModel> {
    use crate::config::Provider;
    // Long enough for a slow model writing a long answer; a stalled one is cut.
    let timeout = std::time::Duration::from_secs(300);
    let key = settings.api_key.clone();
    match settings.provider {
        Provider::OpenAi => std::sync::Arc::new(
            OpenAiClient::new(&settings.base_url, key, timeout, RetryPolicy::default())
                .streaming(settings.stream),
        ),
        Provider::Anthropic => std::sync::Arc::new(
            AnthropicClient::new(&settings.base_url, key, timeout, RetryPolicy::default())
                .streaming(settings.stream),
        ),
    }
}

#[async_trait]
pub trait ChatModel: Send + Sync {
    async fn complete(&self, request: &ChatRequest<'_>) -> Result<Completion, LlmError>;
}
