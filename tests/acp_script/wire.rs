//! The agent's stdout: whole lines written in order by one thread, so that a long line
//! never interleaves with another and a slow reader never blocks the agent's loop.

use serde_json::{Value, json};
use std::io::Write as _;
use std::sync::mpsc;

pub const PARSE_ERROR: i64 = -32700;
pub const INVALID_REQUEST: i64 = -32600;
pub const METHOD_NOT_FOUND: i64 = -32601;
pub const INVALID_PARAMS: i64 = -32602;
pub const INTERNAL_ERROR: i64 = -32603;

enum Write {
    Line(String),
    /// Answered once every line queued before it is written and flushed.
    Sync(mpsc::Sender<()>),
}

#[derive(Clone)]
pub struct Out {
    tx: mpsc::Sender<Write>,
}

impl Out {
    pub fn start() -> Out {
        let (tx, rx) = mpsc::channel::<Write>();
        std::thread::spawn(move || {
            let stdout = std::io::stdout();
            for write in rx {
                match write {
                    Write::Line(line) => {
                        let mut stdout = stdout.lock();
                        let written = stdout
                            .write_all(line.as_bytes())
                            .and_then(|()| stdout.write_all(b"\n"))
                            .and_then(|()| stdout.flush());
                        if let Err(e) = written {
                            eprintln!("lucid-acp-script: stdout is gone ({e}); exiting");
                            std::process::exit(1);
                        }
                    }
                    Write::Sync(done) => {
                        let _ = done.send(());
                    }
                }
            }
        });
        Out { tx }
    }

    /// Writes one line as it is (the scenarios that misbehave use it directly).
    pub fn raw(&self, line: impl Into<String>) {
        let line = line.into();
        let shown: String = line.chars().take(300).collect();
        eprintln!("lucid-acp-script: -> {shown}");
        let _ = self.tx.send(Write::Line(line));
    }

    pub fn send(&self, message: &Value) {
        self.raw(message.to_string());
    }

    /// Waits until every line sent so far is written.
    pub fn sync(&self) {
        let (done, wait) = mpsc::channel();
        if self.tx.send(Write::Sync(done)).is_ok() {
            let _ = wait.recv();
        }
    }

    pub fn result(&self, id: &Value, result: Value) {
        self.send(&json!({"jsonrpc": "2.0", "id": id, "result": result}));
    }

    pub fn error(&self, id: &Value, code: i64, message: &str, data: Option<Value>) {
        let mut error = json!({"code": code, "message": message});
        if let Some(data) = data {
            error["data"] = data;
        }
        self.send(&json!({"jsonrpc": "2.0", "id": id, "error": error}));
    }

    /// A `session/update` notification.
    pub fn update(&self, session: &str, update: Value) {
        self.send(&json!({
            "jsonrpc": "2.0",
            "method": "session/update",
            "params": {"sessionId": session, "update": update},
        }));
    }
}
