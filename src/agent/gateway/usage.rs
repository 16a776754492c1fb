//! The tokens a model provider's answer reports, read as the answer passes through
//! the gateway untouched: a whole JSON body, or the `data:` lines of a stream.
//! Providers name them differently (Anthropic and OpenAI's Responses `input_tokens`
//! / `output_tokens`, OpenAI's chat `prompt_tokens` / `completion_tokens`, Gemini's
//! `promptTokenCount` / `candidatesTokenCount`), and streams repeat them as running
//! totals, so the largest of each seen is the answer's.

use serde_json::Value;

const INPUT_KEYS: [&str; 3] = ["input_tokens", "prompt_tokens", "promptTokenCount"];
const OUTPUT_KEYS: [&str; 3] = ["output_tokens", "completion_tokens", "candidatesTokenCount"];
/// A line or body longer than this is not read for usage (it still passes).
const MAX_READ: usize = 4 << 20;

/// Tokens in and out of one answer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tokens {
    pub input: u64,
    pub output: u64,
}

/// Reads usage from an answer's bytes as they come.
#[derive(Default)]
pub struct UsageTap {
    pending: Vec<u8>,
    /// Past `MAX_READ` without a line end: the rest of that line is skipped.
    skipping: bool,
    saw_stream: bool,
    tokens: Tokens,
    /// The model that answered, as the answer names it (`model`, or Gemini's
    /// `modelVersion`).
    model: Option<String>,
}

impl UsageTap {
    pub fn feed(&mut self, mut bytes: &[u8]) {
        while let Some(at) = bytes.iter().position(|b| *b == b'\n') {
            self.keep(&bytes[..at]);
            let line = std::mem::take(&mut self.pending);
            if !std::mem::take(&mut self.skipping) {
                self.line(&line);
            }
            bytes = &bytes[at + 1..];
        }
        self.keep(bytes);
    }

    /// Part of a line, kept until its end unless the line is too long to read.
    fn keep(&mut self, part: &[u8]) {
        if self.skipping {
            return;
        }
        self.pending.extend_from_slice(part);
        if self.pending.len() > MAX_READ {
            self.pending.clear();
            self.skipping = true;
        }
    }

    /// The answer's tokens, once it has all passed.
    pub fn finish(self) -> Tokens {
        self.finish_with_model().0
    }

    /// The answer's tokens and the model that answered, once it has all passed.
    pub fn finish_with_model(mut self) -> (Tokens, Option<String>) {
        let rest = std::mem::take(&mut self.pending);
        if !self.skipping {
            self.line(&rest);
        }
        (self.tokens, self.model)
    }

    fn line(&mut self, line: &[u8]) {
        let data = line.trim_ascii_start().starts_with(b"data:");
        self.saw_stream |= data;
        // Only a line that names tokens (every count's key holds "oken") or, until
        // it is known, the model is parsed: most of a stream is words.
        let named = |word: &[u8]| line.windows(word.len()).any(|w| w == word);
        if !named(b"oken") && (self.model.is_some() || !named(b"odel")) {
            return;
        }
        let text = String::from_utf8_lossy(line);
        let text = text.trim();
        if let Some(data) = text.strip_prefix("data:") {
            self.saw_stream = true;
            self.read(data.trim());
        } else if !self.saw_stream && text.starts_with('{') {
            // A whole JSON answer (pretty-printed bodies are read line by line, and
            // miss nothing: a usage object's counts sit on lines of their own).
            self.read(text);
            self.read_pretty(text);
        } else if !self.saw_stream {
            self.read_pretty(text);
        }
    }

    fn read(&mut self, json: &str) {
        if let Ok(value) = serde_json::from_str::<Value>(json) {
            self.take(&value);
        }
    }

    /// `"input_tokens": 12,` on a line of a pretty-printed body.
    fn read_pretty(&mut self, line: &str) {
        let Some((key, value)) = line.split_once(':') else {
            return;
        };
        let key = key.trim().trim_matches('"');
        let Ok(n) = value.trim().trim_end_matches(',').parse::<u64>() else {
            return;
        };
        self.count(key, n);
    }

    fn take(&mut self, value: &Value) {
        match value {
            Value::Object(map) => {
                for (key, value) in map {
                    if let Some(n) = value.as_u64() {
                        self.count(key, n);
                    }
                    if let (None, "model" | "modelVersion", Some(name)) =
                        (&self.model, key.as_str(), value.as_str())
                    {
                        self.model = Some(name.to_owned());
                    }
                    self.take(value);
                }
            }
            Value::Array(items) => items.iter().for_each(|v| self.take(v)),
            _ => {}
        }
    }

    fn count(&mut self, key: &str, n: u64) {
        if INPUT_KEYS.contains(&key) {
            self.tokens.input = self.tokens.input.max(n);
        } else if OUTPUT_KEYS.contains(&key) {
            self.tokens.output = self.tokens.output.max(n);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(chunks: &[&str]) -> Tokens {
        let mut tap = UsageTap::default();
        for chunk in chunks {
            tap.feed(chunk.as_bytes());
        }
        tap.finish()
    }

    #[test]
    fn anthropic_streams_give_input_first_and_running_output_totals() {
        let stream = [
            "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":120,\"output_tokens\":1}}}\n\n",
            "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"delta\":{\"text\":\"hi\"}}\n\n",
            "event: message_delta\ndata: {\"type\":\"message_de",
            "lta\",\"usage\":{\"output_tokens\":57}}\n\n",
        ];
        assert_eq!(
            read(&stream),
            Tokens {
                input: 120,
                output: 57
            }
        );
    }

    #[test]
    fn openai_chat_and_responses_and_gemini_name_them_their_way() {
        let chat = "{\"choices\":[],\"usage\":{\"prompt_tokens\":30,\"completion_tokens\":7,\"total_tokens\":37}}";
        assert_eq!(
            read(&[chat]),
            Tokens {
                input: 30,
                output: 7
            }
        );
        let streamed = "data: {\"choices\":[{\"delta\":{}}]}\n\ndata: {\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":2}}\n\ndata: [DONE]\n\n";
        assert_eq!(
            read(&[streamed]),
            Tokens {
                input: 5,
                output: 2
            }
        );
        let responses = "data: {\"type\":\"response.completed\",\"response\":{\"usage\":{\"input_tokens\":9,\"input_tokens_details\":{\"cached_tokens\":3},\"output_tokens\":4}}}\n";
        assert_eq!(
            read(&[responses]),
            Tokens {
                input: 9,
                output: 4
            }
        );
        let gemini = "{\n  \"usageMetadata\": {\n    \"promptTokenCount\": 11,\n    \"candidatesTokenCount\": 6\n  }\n}\n";
        assert_eq!(
            read(&[gemini]),
            Tokens {
                input: 11,
                output: 6
            }
        );
    }

    #[test]
    fn an_answer_without_usage_or_a_huge_line_reads_as_none() {
        assert_eq!(read(&["not json at all"]), Tokens::default());
        let huge = format!(
            "data: {{\"usage\":{{\"input_tokens\":3,\"pad\":\"{}\"}}}}\n",
            "x".repeat(MAX_READ)
        );
        assert_eq!(
            read(&[&huge, "data: {\"usage\":{\"output_tokens\":2}}\n"]),
            Tokens {
                input: 0,
                output: 2
            }
        );
    }
}
