//! A model that answers from a script, in process: each request gets the next step
//! (a tool call, words, or a refusal of the key), and every request is kept.

use async_trait::async_trait;
use lucid::agent::llm::{
    ChatModel, ChatRequest, Completion, LlmError, Message, TokenUsage, ToolCall,
};
use std::collections::VecDeque;
use std::sync::Mutex;

pub enum Step {
    Answer(Completion),
    /// The provider refuses the key (HTTP 401) with this message.
    BadKey(String),
}

impl Step {
    pub fn call(id: &str, name: &str, arguments: &str) -> Step {
        Step::Answer(Completion {
            text: String::new(),
            tool_calls: vec![ToolCall {
                id: id.into(),
                name: name.into(),
                arguments: arguments.into(),
            }],
            usage: TokenUsage {
                input: 100,
                output: 20,
            },
        })
    }

    /// The model also says something beside its call.
    pub fn saying(mut self, text: &str) -> Step {
        if let Step::Answer(completion) = &mut self {
            completion.text = text.into();
        }
        self
    }
}

#[derive(Default)]
pub struct ScriptedModel {
    script: Mutex<VecDeque<Step>>,
    /// The conversation of every request, in order.
    pub seen: Mutex<Vec<Vec<Message>>>,
}

impl ScriptedModel {
    pub fn push(&self, steps: impl IntoIterator<Item = Step>) {
        self.script.lock().unwrap().extend(steps);
    }

    pub fn left(&self) -> usize {
        self.script.lock().unwrap().len()
    }
}

#[async_trait]
impl ChatModel for ScriptedModel {
    async fn complete(&self, request: &ChatRequest<'_>) -> Result<Completion, LlmError> {
        self.seen.lock().unwrap().push(request.messages.to_vec());
        match self.script.lock().unwrap().pop_front() {
            Some(Step::Answer(completion)) => Ok(completion),
            Some(Step::BadKey(message)) => Err(LlmError::Auth {
                status: 401,
                message,
            }),
            None => Err(LlmError::BadResponse("the script has no more steps".into())),
        }
    }
}
