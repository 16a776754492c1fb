//! A streamed chat completion (`"stream": true`): `data:` chunks whose `delta`s add
//! up to the answer, tool calls arriving in pieces keyed by their `index`, usage in a
//! last chunk with no choices (asked for with `stream_options.include_usage`), and
//! `data: [DONE]` at the end. A stream without `[DONE]` broke off.

use super::super::transport::{ENDED_EARLY, ReadError, events};
use super::super::{Completion, TokenUsage, ToolCall};
use super::WireUsage;
use futures::StreamExt;
use serde::Deserialize;

#[derive(Deserialize)]
struct Chunk {
    #[serde(default)]
    choices: Vec<ChunkChoice>,
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
struct ChunkChoice {
    #[serde(default)]
    delta: Delta,
}

#[derive(Default, Deserialize)]
struct Delta {
    content: Option<String>,
    #[serde(default)]
    tool_calls: Vec<ToolCallPiece>,
}

#[derive(Deserialize)]
struct ToolCallPiece {
    #[serde(default)]
    index: usize,
    id: Option<String>,
    function: Option<FunctionPiece>,
}

#[derive(Deserialize)]
struct FunctionPiece {
    name: Option<String>,
    arguments: Option<String>,
}

/// The answer as it is put together, chunk by chunk.
#[derive(Default)]
pub(super) struct Assembly {
    text: String,
    calls: Vec<ToolCall>,
    usage: TokenUsage,
}

impl Assembly {
    pub fn add(&mut self, data: &str) -> Result<(), ReadError> {
        let chunk: Chunk = serde_json::from_str(data)
            .map_err(|e| ReadError::invalid(format!("not a chat completion chunk: {e}")))?;
        if let Some(usage) = chunk.usage {
            self.usage = TokenUsage {
                input: usage.prompt_tokens,
                output: usage.completion_tokens,
            };
        }
        // Only the first choice is asked for (no `n`), so only it is read.
        let Some(choice) = chunk.choices.into_iter().next() else {
            return Ok(());
        };
        if let Some(text) = choice.delta.content {
            self.text.push_str(&text);
        }
        for piece in choice.delta.tool_calls {
            while self.calls.len() <= piece.index {
                self.calls.push(ToolCall {
                    id: String::new(),
                    name: String::new(),
                    arguments: String::new(),
                });
            }
            let call = &mut self.calls[piece.index];
            if let Some(id) = piece.id {
                call.id = id;
            }
            if let Some(function) = piece.function {
                call.name
                    .push_str(function.name.as_deref().unwrap_or_default());
                call.arguments
                    .push_str(function.arguments.as_deref().unwrap_or_default());
            }
        }
        Ok(())
    }

    pub fn finish(self) -> Completion {
        Completion {
            text: self.text,
            tool_calls: self.calls,
            usage: self.usage,
        }
    }
}

pub(super) async fn read(response: reqwest::Response) -> Result<Completion, ReadError> {
    let mut assembly = Assembly::default();
    let mut stream = std::pin::pin!(events(response));
    while let Some(event) = stream.next().await {
        let data = event?;
        if data.trim() == "[DONE]" {
            return Ok(assembly.finish());
        }
        assembly.add(&data)?;
    }
    Err(ReadError::BrokeOff(ENDED_EARLY.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_of_text_and_tool_calls_add_up() {
        let mut a = Assembly::default();
        for data in [
            r#"{"choices":[{"index":0,"delta":{"role":"assistant","content":"Let me "}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"content":"look."}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"run","arguments":""}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"comm"}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"and\":\"ls\"}"}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_2","function":{"name":"read_file","arguments":"{}"}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}"#,
            r#"{"choices":[],"usage":{"prompt_tokens":30,"completion_tokens":9,"total_tokens":39}}"#,
        ] {
            a.add(data).unwrap();
        }
        let c = a.finish();
        assert_eq!(c.text, "Let me look.");
        assert_eq!(c.tool_calls.len(), 2);
        assert_eq!(c.tool_calls[0].id, "call_1");
        assert_eq!(c.tool_calls[0].arguments, r#"{"command":"ls"}"#);
        assert_eq!(c.tool_calls[1].name, "read_file");
        assert_eq!(
            c.usage,
            TokenUsage {
                input: 30,
                output: 9
            }
        );
    }

    #[test]
    fn a_chunk_that_is_not_json_is_invalid() {
        assert!(matches!(
            Assembly::default().add("<html>"),
            Err(ReadError::Invalid(_))
        ));
    }
}
