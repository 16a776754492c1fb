//! A streamed Messages answer (`"stream": true`): `message_start` (with the input
//! tokens), for each content block a `content_block_start`, its deltas (`text_delta`,
//! or `input_json_delta` pieces of a tool call's input) and a `content_block_stop`,
//! then `message_delta` (the output tokens so far) and `message_stop`. `ping`s come in
//! between; an `error` event (an overloaded provider) ends the stream. A stream
//! without `message_stop` broke off.

use super::super::transport::{ENDED_EARLY, ReadError, events};
use super::super::{Completion, TokenUsage, ToolCall};
use futures::StreamExt;
use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Event {
    MessageStart {
        message: StartedMessage,
    },
    ContentBlockStart {
        index: usize,
        content_block: Block,
    },
    ContentBlockDelta {
        index: usize,
        delta: Piece,
    },
    MessageDelta {
        #[serde(default)]
        usage: Option<Usage>,
    },
    MessageStop,
    Error {
        error: ErrorBody,
    },
    /// `ping`, `content_block_stop`, and whatever Anthropic adds later.
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
struct StartedMessage {
    #[serde(default)]
    usage: Option<Usage>,
}

#[derive(Deserialize)]
struct Usage {
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Block {
    Text {
        #[serde(default)]
        text: String,
    },
    ToolUse {
        id: String,
        name: String,
    },
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Piece {
    TextDelta {
        text: String,
    },
    InputJsonDelta {
        partial_json: String,
    },
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    message: String,
}

/// A content block as it is put together.
enum Part {
    Text(String),
    Call {
        id: String,
        name: String,
        input: String,
    },
    Skipped,
}

/// The answer as it is put together, event by event.
#[derive(Default)]
pub(super) struct Assembly {
    parts: Vec<Part>,
    usage: TokenUsage,
    done: bool,
}

impl Assembly {
    pub fn add(&mut self, data: &str) -> Result<(), ReadError> {
        let event: Event = serde_json::from_str(data)
            .map_err(|e| ReadError::invalid(format!("not a Messages stream event: {e}")))?;
        match event {
            Event::MessageStart { message } => self.count(message.usage),
            Event::ContentBlockStart {
                index,
                content_block,
            } => {
                let part = match content_block {
                    Block::Text { text } => Part::Text(text),
                    Block::ToolUse { id, name } => Part::Call {
                        id,
                        name,
                        input: String::new(),
                    },
                    Block::Other => Part::Skipped,
                };
                while self.parts.len() < index {
                    self.parts.push(Part::Skipped);
                }
                self.parts.insert(index.min(self.parts.len()), part);
            }
            Event::ContentBlockDelta { index, delta } => match (self.parts.get_mut(index), delta) {
                (Some(Part::Text(text)), Piece::TextDelta { text: more }) => text.push_str(&more),
                (Some(Part::Call { input, .. }), Piece::InputJsonDelta { partial_json }) => {
                    input.push_str(&partial_json);
                }
                (None, _) => {
                    return Err(ReadError::invalid(format!(
                        "a delta for content block {index}, which never started"
                    )));
                }
                _ => {}
            },
            Event::MessageDelta { usage } => self.count(usage),
            Event::MessageStop => self.done = true,
            // Anthropic's errors mid-stream are the overloaded or failing kind.
            Event::Error { error } => {
                return Err(ReadError::BrokeOff(format!(
                    "the stream ended with an error: {}",
                    error.message
                )));
            }
            Event::Other => {}
        }
        Ok(())
    }

    fn count(&mut self, usage: Option<Usage>) {
        let Some(usage) = usage else { return };
        if let Some(input) = usage.input_tokens {
            self.usage.input = input;
        }
        // Output tokens are cumulative: the last count is the answer's.
        if let Some(output) = usage.output_tokens {
            self.usage.output = output;
        }
    }

    pub fn finish(self) -> Completion {
        let mut completion = Completion {
            usage: self.usage,
            ..Completion::default()
        };
        for part in self.parts {
            match part {
                Part::Text(text) => completion.text.push_str(&text),
                Part::Call { id, name, input } => completion.tool_calls.push(ToolCall {
                    id,
                    name,
                    arguments: if input.trim().is_empty() {
                        "{}".to_owned()
                    } else {
                        normalized(input)
                    },
                }),
                Part::Skipped => {}
            }
        }
        completion
    }
}

/// The pieces of a tool call's input put back together, compacted like a whole
/// answer's input (so both paths give the same arguments); text that is not JSON is
/// left as the model wrote it, for the tool to report.
fn normalized(input: String) -> String {
    match serde_json::from_str::<Value>(&input) {
        Ok(value) => value.to_string(),
        Err(_) => input,
    }
}

pub(super) async fn read(response: reqwest::Response) -> Result<Completion, ReadError> {
    let mut assembly = Assembly::default();
    let mut stream = std::pin::pin!(events(response));
    while let Some(event) = stream.next().await {
        assembly.add(&event?)?;
        if assembly.done {
            return Ok(assembly.finish());
        }
    }
    Err(ReadError::BrokeOff(ENDED_EARLY.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assemble(events: &[&str]) -> Result<Assembly, ReadError> {
        let mut a = Assembly::default();
        for data in events {
            a.add(data)?;
        }
        Ok(a)
    }

    #[test]
    fn text_and_tool_input_pieces_add_up() {
        let a = assemble(&[
            r#"{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","content":[],"model":"m","stop_reason":null,"usage":{"input_tokens":25,"output_tokens":1}}}"#,
            r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
            r#"{"type":"ping"}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Running "}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"it."}}"#,
            r#"{"type":"content_block_stop","index":0}"#,
            r#"{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_1","name":"run","input":{}}}"#,
            r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":""}}"#,
            r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"command\": \"l"}}"#,
            r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"s\"}"}}"#,
            r#"{"type":"content_block_stop","index":1}"#,
            r#"{"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"toolu_2","name":"finish","input":{}}}"#,
            r#"{"type":"content_block_stop","index":2}"#,
            r#"{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":40}}"#,
            r#"{"type":"message_stop"}"#,
        ])
        .unwrap();
        assert!(a.done);
        let c = a.finish();
        assert_eq!(c.text, "Running it.");
        assert_eq!(c.tool_calls[0].arguments, r#"{"command":"ls"}"#);
        assert_eq!(c.tool_calls[1].arguments, "{}");
        assert_eq!(
            c.usage,
            TokenUsage {
                input: 25,
                output: 40
            }
        );
    }

    #[test]
    fn an_error_event_breaks_the_answer_off() {
        let result = assemble(&[
            r#"{"type":"message_start","message":{"usage":{"input_tokens":1}}}"#,
            r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
        ]);
        assert!(matches!(result, Err(ReadError::BrokeOff(m)) if m.contains("Overloaded")));
    }
}
