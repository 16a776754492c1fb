//! The agent's stdio as ACP lines, before the protocol library sees them: one JSON
//! message per line. What an agent prints that is not JSON (a banner, colours, a
//! progress bar) is logged and skipped; a line too long to keep is dropped whole; an
//! update of a kind lucid does not know is passed over; JSON that is not JSON-RPC, or
//! an update that does not fit its kind, is the agent breaking the protocol, which
//! ends its run.

use agent_client_protocol::v1::schema::SessionNotification;
use futures::{Sink, Stream};
use serde_json::Value;
use std::io;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

/// The longest line kept (an update carrying a whole file is a few MB at most).
pub const MAX_LINE: usize = 16 * 1024 * 1024;

/// The update kinds of ACP v1 this client reads or knowingly passes over.
const KNOWN_UPDATES: &[&str] = &[
    "user_message_chunk",
    "agent_message_chunk",
    "agent_thought_chunk",
    "tool_call",
    "tool_call_update",
    "plan",
    "available_commands_update",
    "current_mode_update",
    "config_option_update",
    "session_info_update",
    "usage_update",
    "notice",
    "compaction_update",
    "compaction_summary_chunk",
];

/// What one line is.
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    /// A JSON-RPC message for the protocol library.
    Message(String),
    /// Nothing to pass on (blank, not JSON, or an update of an unknown kind).
    Skipped(&'static str),
    /// JSON that breaks the protocol, and how.
    Broken(String),
}

/// Sorts one line of the agent's stdout.
pub fn sort(line: &str) -> Line {
    let trimmed = line.trim();
    if trimmed.is_empty() {
        return Line::Skipped("blank");
    }
    let Ok(value) = serde_json::from_str::<Value>(trimmed) else {
        return Line::Skipped("not JSON");
    };
    let Some(object) = value.as_object() else {
        return Line::Broken(format!(
            "a line is JSON but not a message: {}",
            head(trimmed)
        ));
    };
    let has_method = object.get("method").is_some_and(Value::is_string);
    let has_id = object.contains_key("id");
    if object.get("jsonrpc").and_then(Value::as_str) != Some("2.0") || !(has_method || has_id) {
        return Line::Broken(format!("a line is not JSON-RPC 2.0: {}", head(trimmed)));
    }
    if object.get("method").and_then(Value::as_str) == Some("session/update") {
        let params = object.get("params").cloned().unwrap_or(Value::Null);
        let kind = params
            .pointer("/update/sessionUpdate")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !kind.is_empty() && !KNOWN_UPDATES.contains(&kind) {
            return Line::Skipped("an update of an unknown kind");
        }
        if let Err(e) = serde_json::from_value::<SessionNotification>(params) {
            return Line::Broken(format!("a session/update does not fit the protocol: {e}"));
        }
    }
    Line::Message(trimmed.to_owned())
}

/// The start of a line, for a reason or a log.
fn head(line: &str) -> String {
    match line.char_indices().nth(120) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line.to_owned(),
    }
}

/// Lines read from the agent, as the protocol library takes them; what breaks the
/// protocol goes to `broken`, and `heard` moves on with every line, whatever it is.
pub fn incoming(
    stdout: impl AsyncRead + Send + Unpin + 'static,
    broken: mpsc::UnboundedSender<String>,
    heard: watch::Sender<Instant>,
) -> impl Stream<Item = io::Result<String>> + Send + 'static {
    async_stream::stream! {
        let mut lines = LineReader::new(stdout);
        while let Some(line) = lines.next().await? {
            heard.send_replace(Instant::now());
            let line = match line {
                Ok(line) => line,
                Err(length) => {
                    tracing::info!(bytes = length, "an agent's line was too long and was dropped");
                    continue;
                }
            };
            match sort(&String::from_utf8_lossy(&line)) {
                Line::Message(message) => yield Ok(message),
                Line::Skipped(why) => {
                    tracing::debug!(why, line = %head(&String::from_utf8_lossy(&line)), "an agent's line skipped");
                }
                Line::Broken(reason) => {
                    let _ = broken.send(reason);
                }
            }
        }
    }
}

/// Lines written to the agent's stdin, each flushed as it goes.
pub fn outgoing(
    stdin: impl AsyncWrite + Send + Unpin + 'static,
) -> impl Sink<String, Error = io::Error> + Send + 'static {
    futures::sink::unfold(stdin, async |mut stdin, line: String| {
        let mut bytes = line.into_bytes();
        bytes.push(b'\n');
        stdin.write_all(&bytes).await?;
        stdin.flush().await?;
        Ok::<_, io::Error>(stdin)
    })
}

/// Splits a stream into lines of at most [`MAX_LINE`] bytes: a longer one is
/// skipped to its end and said as its length.
struct LineReader<R> {
    reader: R,
    buffer: Vec<u8>,
    /// Bytes of a too-long line skipped so far (None: not skipping).
    skipping: Option<usize>,
    ended: bool,
}

impl<R: AsyncRead + Unpin> LineReader<R> {
    fn new(reader: R) -> Self {
        LineReader {
            reader,
            buffer: Vec::with_capacity(64 * 1024),
            skipping: None,
            ended: false,
        }
    }

    /// The next line (without its newline), `Err(length)` for one too long, None
    /// at the end.
    async fn next(&mut self) -> io::Result<Option<Result<Vec<u8>, usize>>> {
        loop {
            if let Some(at) = self.buffer.iter().position(|b| *b == b'\n') {
                let mut line: Vec<u8> = self.buffer.drain(..=at).collect();
                line.pop();
                if let Some(skipped) = self.skipping.take() {
                    return Ok(Some(Err(skipped + line.len())));
                }
                if line.len() > MAX_LINE {
                    return Ok(Some(Err(line.len())));
                }
                return Ok(Some(Ok(line)));
            }
            if self.buffer.len() > MAX_LINE {
                *self.skipping.get_or_insert(0) += self.buffer.len();
                self.buffer.clear();
            }
            if self.ended {
                let rest = std::mem::take(&mut self.buffer);
                return Ok(match self.skipping.take() {
                    Some(skipped) => Some(Err(skipped + rest.len())),
                    None if rest.is_empty() => None,
                    None => Some(Ok(rest)),
                });
            }
            let mut chunk = [0u8; 64 * 1024];
            let read = self.reader.read(&mut chunk).await?;
            if read == 0 {
                self.ended = true;
            }
            self.buffer.extend_from_slice(&chunk[..read]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

    #[test]
    fn lines_are_passed_skipped_or_broken() {
        let update = r#"{"jsonrpc":"2.0","method":"session/update","params":{"sessionId":"s","update":{"sessionUpdate":"agent_message_chunk","content":{"type":"text","text":"hi"}}}}"#;
        assert_eq!(sort(update), Line::Message(update.to_owned()));
        let response = r#"{"jsonrpc":"2.0","id":3,"result":{}}"#;
        assert_eq!(sort(response), Line::Message(response.to_owned()));
        assert_eq!(sort("   "), Line::Skipped("blank"));
        assert_eq!(sort("Loading model..."), Line::Skipped("not JSON"));
        assert_eq!(sort("\x1b[32mready\x1b[0m"), Line::Skipped("not JSON"));
        assert_eq!(sort(r#"{"jsonrpc":"2.0","#), Line::Skipped("not JSON"));
        let unknown = r#"{"jsonrpc":"2.0","method":"session/update","params":{"sessionId":"s","update":{"sessionUpdate":"telemetry_blip","x":1}}}"#;
        assert_eq!(sort(unknown), Line::Skipped("an update of an unknown kind"));
        for broken in [
            r#"{"hello":"world"}"#,
            "[1,2]",
            r#"{"jsonrpc":"1.0","id":1,"result":{}}"#,
            r#"{"jsonrpc":"2.0"}"#,
            r#"{"jsonrpc":"2.0","method":"session/update","params":{"update":{"sessionUpdate":"agent_message_chunk","content":{"type":"text","text":"hi"}}}}"#,
        ] {
            assert!(matches!(sort(broken), Line::Broken(_)), "{broken}");
        }
    }

    #[tokio::test]
    async fn a_line_too_long_is_dropped_and_the_next_one_read() {
        let long = "x".repeat(MAX_LINE + 10);
        let input = format!("first\n{long}\nlast");
        let mut reader = LineReader::new(input.as_bytes());
        assert_eq!(reader.next().await.unwrap(), Some(Ok(b"first".to_vec())));
        // (Compared by matching: a failure must not print 16 MB.)
        let long = reader.next().await.unwrap();
        assert!(matches!(long, Some(Err(n)) if n == MAX_LINE + 10));
        assert_eq!(reader.next().await.unwrap(), Some(Ok(b"last".to_vec())));
        assert_eq!(reader.next().await.unwrap(), None);
    }

    #[tokio::test]
    async fn the_stream_passes_messages_and_says_what_breaks_the_protocol() {
        let input = "banner\n{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n{\"hello\":1}\n";
        let (broken_tx, mut broken) = mpsc::unbounded_channel();
        let (heard, _) = watch::channel(Instant::now());
        let lines: Vec<_> = incoming(input.as_bytes(), broken_tx, heard)
            .map(Result::unwrap)
            .collect()
            .await;
        assert_eq!(lines, [r#"{"jsonrpc":"2.0","id":1,"result":{}}"#]);
        assert!(broken.recv().await.unwrap().contains("not JSON-RPC"));
    }
}
