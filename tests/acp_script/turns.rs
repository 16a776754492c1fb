//! The scenarios: what one prompt turn does, reported step by step as the protocol
//! says (`session/update` notifications), ending with a stop reason or an error.

use crate::wire::INTERNAL_ERROR;
use crate::{Agent, Scenario, model};
use serde_json::{Value, json};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How long the scenarios that hang hang, at most.
pub const LONG_WAIT: Duration = Duration::from_secs(10 * 60);

/// The most of the "look around" output reported.
const LOOK_LIMIT: usize = 200 * 1024;

/// What a thief after keys looks at: the environment, every readable process's
/// environment, and anything like an API key in the home directory, the workspace,
/// /tmp and /etc.
const LOOK_AROUND: &str = r#"{
echo '$ env'
env
echo '$ cat /proc/*/environ'
cat /proc/*/environ 2>/dev/null | tr '\0' '\n'
echo '$ grep -r sk- ~ /workspace /tmp /etc'
grep -rIsE '(^|[^A-Za-z0-9])sk-[A-Za-z0-9_-]{6,}' "${HOME:-/nonexistent}" /workspace /tmp /etc 2>/dev/null
} 2>&1 | head -c 204800"#;

/// The permission scenario's options: the rejecting one first, so that a client
/// that picks the first option does not get an allow.
const PERMISSION_OPTIONS: [(&str, &str, &str); 3] = [
    ("no", "Reject", "reject_once"),
    ("yes-always", "Always", "allow_always"),
    ("yes", "Allow", "allow_once"),
];

/// How a turn ends: the prompt's answer.
#[derive(Debug)]
pub enum End {
    /// `{"stopReason": …}`.
    Stop(&'static str),
    /// A JSON-RPC error answering the prompt.
    Error {
        code: i64,
        message: String,
        data: Option<Value>,
    },
}

const CANCELLED: End = End::Stop("cancelled");

pub struct Turn {
    agent: Arc<Agent>,
    session: String,
    cwd: PathBuf,
    pub prompt: String,
    cancel: CancellationToken,
    /// Turns this session finished before this one: 0 for the first.
    index: u32,
    /// What the agent said in this turn (its message chunks), kept for `session/load`.
    pub said: String,
}

/// Returns `cancelled` from the turn once `session/cancel` came.
macro_rules! checkpoint {
    ($turn:expr) => {
        if $turn.cancel.is_cancelled() {
            return CANCELLED;
        }
    };
}

impl Turn {
    pub fn new(
        agent: Arc<Agent>,
        session: String,
        cwd: PathBuf,
        prompt: String,
        cancel: CancellationToken,
        index: u32,
    ) -> Turn {
        Turn {
            agent,
            session,
            cwd,
            prompt,
            cancel,
            index,
            said: String::new(),
        }
    }

    pub async fn run(&mut self) -> End {
        match self.agent.scenario {
            Scenario::Fix | Scenario::Load => self.work().await,
            Scenario::Garbage => {
                self.garbage();
                self.work().await
            }
            Scenario::Slow => self.slow().await,
            Scenario::Deaf => self.deaf().await,
            Scenario::Crash => self.crash(),
            Scenario::Violate => self.violate().await,
            Scenario::Permission => self.permission().await,
            Scenario::Refuse => {
                self.say("I can't help with that.");
                End::Stop("refusal")
            }
            Scenario::MaxTokens => {
                self.say("I started on it but ran out of tokens.");
                End::Stop("max_tokens")
            }
            Scenario::Burst => self.burst().await,
        }
    }

    /// The first turn of a session fixes the repository; later ones take a note, as
    /// does a new session told how an earlier run ended (its client could not load
    /// the old one).
    async fn work(&mut self) -> End {
        if self.index == 0
            && !self
                .prompt
                .contains("An earlier run on this task ended thus")
        {
            self.fix().await
        } else {
            self.note().await
        }
    }

    async fn fix(&mut self) -> End {
        self.plan(&[
            ("Look around the workspace", "medium", "in_progress"),
            ("Fix add in calc.py", "high", "pending"),
            ("Run the tests", "high", "pending"),
        ]);

        let id = self.agent.name("look");
        self.tool_call(
            &id,
            "look around",
            "execute",
            "in_progress",
            json!({"command": LOOK_AROUND}),
            None,
        );
        match self.sh(LOOK_AROUND).await {
            None => return self.cancelled_during(&id),
            Some(Ok((code, output))) => {
                let output = bounded(output, LOOK_LIMIT);
                self.tool_done(
                    &id,
                    "completed",
                    text_content(&output),
                    Some(json!({"exitCode": code})),
                );
            }
            Some(Err(e)) => self.tool_done(&id, "failed", text_content(&e), None),
        }

        if !self.agent.no_model {
            let asked = tokio::select! {
                asked = model::ask(&self.prompt) => asked,
                () = self.cancel.cancelled() => return CANCELLED,
            };
            match asked {
                Ok(answer) => self.think(&answer),
                Err(why) => {
                    return End::Error {
                        code: INTERNAL_ERROR,
                        message: why,
                        data: None,
                    };
                }
            }
        }
        checkpoint!(self);

        let test = self.cwd.join("test_calc.py");
        let id = self.agent.name("read");
        self.tool_call(
            &id,
            "Read test_calc.py",
            "read",
            "in_progress",
            json!({"path": test}),
            Some(&test),
        );
        match std::fs::read_to_string(&test) {
            Ok(text) => self.tool_done(&id, "completed", text_content(&text), None),
            Err(e) => {
                let why = format!("cannot read {}: {e}", test.display());
                self.tool_done(&id, "failed", text_content(&why), None)
            }
        }
        checkpoint!(self);

        let calc = self.cwd.join("calc.py");
        let id = self.agent.name("edit");
        self.tool_call(
            &id,
            "Edit calc.py",
            "edit",
            "in_progress",
            json!({"path": calc, "old_string": "a - b", "new_string": "a + b"}),
            Some(&calc),
        );
        let edited = std::fs::read_to_string(&calc).and_then(|old| {
            let new = old.replace("a - b", "a + b");
            std::fs::write(&calc, &new).map(|()| (old, new))
        });
        let fixed = match edited {
            Ok((old, new)) => {
                let diff = json!([{"type": "diff", "path": calc, "oldText": old, "newText": new}]);
                self.tool_done(&id, "completed", diff, None);
                true
            }
            Err(e) => {
                let why = format!("cannot edit {}: {e}", calc.display());
                self.tool_done(&id, "failed", text_content(&why), None);
                false
            }
        };
        checkpoint!(self);

        let command = "python3 test_calc.py";
        let id = self.agent.name("run");
        self.tool_call(
            &id,
            command,
            "execute",
            "in_progress",
            json!({"command": command}),
            None,
        );
        let passed = match self.sh(command).await {
            None => return self.cancelled_during(&id),
            Some(Ok((code, output))) => {
                let status = if code == 0 { "completed" } else { "failed" };
                let raw = json!({"exitCode": code});
                self.tool_done(&id, status, text_content(&output), Some(raw));
                code == 0
            }
            Some(Err(e)) => {
                self.tool_done(&id, "failed", text_content(&e), None);
                false
            }
        };

        self.plan(&[
            ("Look around the workspace", "medium", "completed"),
            ("Fix add in calc.py", "high", "completed"),
            ("Run the tests", "high", "completed"),
        ]);
        self.say(if fixed {
            "Fixed add in calc.py; "
        } else {
            "Could not fix add in calc.py; "
        });
        self.say(if passed {
            "the test passes now."
        } else {
            "the test still fails."
        });
        End::Stop("end_turn")
    }

    /// A follow-up: the prompt's text goes into NOTES.md.
    async fn note(&mut self) -> End {
        let path = self.cwd.join("NOTES.md");
        let id = self.agent.name("edit");
        self.tool_call(
            &id,
            "Write NOTES.md",
            "edit",
            "in_progress",
            json!({"path": path, "content": self.prompt}),
            Some(&path),
        );
        let old = std::fs::read_to_string(&path).ok();
        match std::fs::write(&path, &self.prompt) {
            Ok(()) => {
                let mut diff = json!({"type": "diff", "path": path, "newText": self.prompt});
                if let Some(old) = old {
                    diff["oldText"] = Value::String(old);
                }
                self.tool_done(&id, "completed", json!([diff]), None);
            }
            Err(e) => {
                let why = format!("cannot write {}: {e}", path.display());
                self.tool_done(&id, "failed", text_content(&why), None);
            }
        }
        checkpoint!(self);
        self.say("Noted.");
        End::Stop("end_turn")
    }

    /// Lines a sloppy agent prints on stdout, then the usual turn.
    fn garbage(&mut self) {
        let out = &self.agent.out;
        out.raw("Loading model...");
        out.raw("\u{1b}[32m✔ ready\u{1b}[0m \u{1b}[1;33mwarning:\u{1b}[0m colours on stdout");
        out.raw(r#"{"jsonrpc":"2.0","method":"session/update","params":{"sessionId":"#);
        // 3 MiB of text in one valid line.
        let big = "0123456789abcdef".repeat(3 * 1024 * 1024 / 16);
        out.update(
            &self.session,
            json!({"sessionUpdate": "agent_message_chunk", "content": {"type": "text", "text": big}}),
        );
        out.update(
            &self.session,
            json!({"sessionUpdate": "telemetry_blip", "cpuPercent": 12.5}),
        );
    }

    /// Its first turn works until cancelled; later ones take a note.
    async fn slow(&mut self) -> End {
        if self.index > 0 {
            return self.note().await;
        }
        self.think("working slowly");
        tokio::select! {
            () = tokio::time::sleep(LONG_WAIT) => End::Stop("end_turn"),
            () = self.cancel.cancelled() => CANCELLED,
        }
    }

    /// Like `slow`, but deaf to `session/cancel` (never even told of it), to SIGTERM
    /// and SIGINT (ignored in `main`). It never answers.
    async fn deaf(&mut self) -> End {
        self.think("working slowly");
        tokio::time::sleep(LONG_WAIT).await;
        eprintln!("lucid-acp-script: deaf: still here after {LONG_WAIT:?}; leaving");
        std::process::exit(0);
    }

    fn crash(&mut self) -> End {
        self.think("this turn is about to crash");
        self.agent.out.sync();
        eprintln!("panic: scripted crash");
        std::process::exit(3);
    }

    /// Breaks the protocol three ways, then waits for the client to act.
    async fn violate(&mut self) -> End {
        self.think("about to break the protocol");
        let out = &self.agent.out;
        out.raw(r#"{"hello":"world"}"#);
        out.raw(r#"{"jsonrpc":"2.0","id":424242424,"result":{"stopReason":"end_turn"}}"#);
        out.send(&json!({
            "jsonrpc": "2.0",
            "method": "session/update",
            "params": {"update": {
                "sessionUpdate": "agent_message_chunk",
                "content": {"type": "text", "text": "a session/update without a sessionId"},
            }},
        }));
        tokio::select! {
            () = tokio::time::sleep(LONG_WAIT) => End::Stop("end_turn"),
            () = self.cancel.cancelled() => CANCELLED,
        }
    }

    /// Its first turn asks leave to run a command; later ones take a note.
    async fn permission(&mut self) -> End {
        if self.index > 0 {
            return self.note().await;
        }
        let id = self.agent.name("perm");
        let command = "rm -rf build";
        self.tool_call(
            &id,
            command,
            "execute",
            "pending",
            json!({"command": command}),
            None,
        );
        let options: Vec<Value> = PERMISSION_OPTIONS
            .iter()
            .map(|(id, name, kind)| json!({"optionId": id, "name": name, "kind": kind}))
            .collect();
        let params = json!({
            "sessionId": self.session,
            "toolCall": {"toolCallId": id, "title": command, "kind": "execute"},
            "options": options,
        });
        let agent = self.agent.clone();
        let reply = tokio::select! {
            reply = agent.request("session/request_permission", params) => reply,
            () = self.cancel.cancelled() => return self.cancelled_during(&id),
        };
        // A cancel read before the answer wins: the client cancelled the turn.
        if self.cancel.is_cancelled() {
            return self.cancelled_during(&id);
        }
        let allowed = match &reply {
            Ok(result) => match result["outcome"]["outcome"].as_str() {
                Some("selected") => {
                    let chosen = result["outcome"]["optionId"].as_str().unwrap_or_default();
                    let kind = PERMISSION_OPTIONS
                        .iter()
                        .find(|(id, _, _)| *id == chosen)
                        .map(|(_, _, kind)| *kind);
                    match kind {
                        Some("allow_once" | "allow_always") => Ok(chosen.to_owned()),
                        _ => Err(chosen.to_owned()),
                    }
                }
                Some("cancelled") => Err("cancelled".to_owned()),
                _ => Err(format!("an outcome I do not know: {result}")),
            },
            Err(error) => Err(format!("error {error}")),
        };
        match allowed {
            Ok(chosen) => {
                let path = self.cwd.join("ALLOWED");
                match std::fs::write(&path, &chosen) {
                    Ok(()) => {
                        let text = format!("allowed: {chosen}");
                        self.tool_done(&id, "completed", text_content(&text), None);
                        self.say(&text);
                    }
                    Err(e) => {
                        let why = format!("cannot write {}: {e}", path.display());
                        self.tool_done(&id, "failed", text_content(&why), None);
                        self.say(&why);
                    }
                }
            }
            Err(outcome) => {
                let text = format!("not allowed: {outcome}");
                self.tool_done(&id, "failed", text_content(&text), None);
                self.say(&text);
            }
        }
        End::Stop("end_turn")
    }

    /// `burst`, for the ACP benchmark (benches/acp.rs): `--count` updates at `--rate`
    /// a second (0: as fast as they can be written), a tool call then its end in turn,
    /// so that each is one event of lucid's log (a command, then its output). Each
    /// carries, as `burst <n> <ns>`, the CLOCK_MONOTONIC time taken just before its
    /// line was written: the clock the host reads too, inside a container or not.
    /// The lines go straight to stdout from one thread, unlogged, so that nothing of
    /// this agent's own sits between the time and the write.
    async fn burst(&mut self) -> End {
        let (count, rate) = self.agent.burst;
        let agent = self.agent.clone();
        let session = self.session.clone();
        let cancel = self.cancel.clone();
        eprintln!("lucid-acp-script: a burst of {count} updates at {rate}/s");
        let written = tokio::task::spawn_blocking(move || {
            // What was queued before goes first.
            agent.out.sync();
            let stdout = std::io::stdout();
            let start = std::time::Instant::now();
            let head = format!(
                r#"{{"jsonrpc":"2.0","method":"session/update","params":{{"sessionId":"{session}","update":{{"#
            );
            let mut line = String::with_capacity(512);
            for n in 0..count {
                if cancel.is_cancelled() {
                    return n;
                }
                if rate > 0.0 {
                    let due = start + Duration::from_secs_f64(n as f64 / rate);
                    std::thread::sleep(due.saturating_duration_since(std::time::Instant::now()));
                }
                let call = n / 2;
                line.clear();
                line.push_str(&head);
                // The time goes last, in the string that ends the line.
                if n % 2 == 0 {
                    line.push_str(&format!(
                        r#""sessionUpdate":"tool_call","toolCallId":"b{call}","title":"burst","kind":"execute","status":"pending","rawInput":{{"command":"burst {n} "#
                    ));
                } else {
                    line.push_str(&format!(
                        r#""sessionUpdate":"tool_call_update","toolCallId":"b{call}","status":"completed","rawOutput":{{"exit_code":0,"output":"burst {n} "#
                    ));
                }
                line.push_str(&monotonic_ns().to_string());
                line.push_str("\"}}}}\n");
                let mut out = stdout.lock();
                if let Err(e) = out.write_all(line.as_bytes()).and_then(|()| out.flush()) {
                    eprintln!("lucid-acp-script: stdout is gone ({e}); exiting");
                    std::process::exit(1);
                }
            }
            count
        })
        .await
        .unwrap_or(0);
        eprintln!("lucid-acp-script: {written} of {count} burst updates written");
        if written < count {
            return CANCELLED;
        }
        End::Stop("end_turn")
    }

    // The steps, as `session/update` notifications.

    fn think(&self, text: &str) {
        self.update(
            json!({"sessionUpdate": "agent_thought_chunk", "content": {"type": "text", "text": text}}),
        );
    }

    fn say(&mut self, text: &str) {
        self.said.push_str(text);
        self.update(
            json!({"sessionUpdate": "agent_message_chunk", "content": {"type": "text", "text": text}}),
        );
    }

    fn plan(&self, entries: &[(&str, &str, &str)]) {
        let entries: Vec<Value> = entries
            .iter()
            .map(|(content, priority, status)| {
                json!({"content": content, "priority": priority, "status": status})
            })
            .collect();
        self.update(json!({"sessionUpdate": "plan", "entries": entries}));
    }

    fn tool_call(
        &self,
        id: &str,
        title: &str,
        kind: &str,
        status: &str,
        raw_input: Value,
        location: Option<&Path>,
    ) {
        let mut update = json!({
            "sessionUpdate": "tool_call",
            "toolCallId": id,
            "title": title,
            "kind": kind,
            "status": status,
            "rawInput": raw_input,
        });
        if let Some(path) = location {
            update["locations"] = json!([{"path": path}]);
        }
        self.update(update);
    }

    fn tool_done(&self, id: &str, status: &str, content: Value, raw_output: Option<Value>) {
        let mut update = json!({
            "sessionUpdate": "tool_call_update",
            "toolCallId": id,
            "status": status,
            "content": content,
        });
        if let Some(raw) = raw_output {
            update["rawOutput"] = raw;
        }
        self.update(update);
    }

    /// The tool call in progress failed because the turn was cancelled.
    fn cancelled_during(&self, id: &str) -> End {
        self.tool_done(id, "failed", text_content("cancelled"), None);
        CANCELLED
    }

    fn update(&self, update: Value) {
        self.agent.out.update(&self.session, update);
    }

    /// Runs a bash command line in the session's directory: its exit code and its
    /// output (stdout and stderr together), or None when the turn was cancelled
    /// first (the command is killed).
    async fn sh(&self, command: &str) -> Option<Result<(i32, String), String>> {
        let child = tokio::process::Command::new("bash")
            .arg("-c")
            .arg(format!("exec 2>&1\n{command}"))
            .current_dir(&self.cwd)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn();
        let child = match child {
            Ok(child) => child,
            Err(e) => return Some(Err(format!("cannot run bash: {e}"))),
        };
        tokio::select! {
            output = child.wait_with_output() => Some(match output {
                Ok(output) => {
                    use std::os::unix::process::ExitStatusExt as _;
                    let code = output
                        .status
                        .code()
                        .unwrap_or_else(|| 128 + output.status.signal().unwrap_or(0));
                    Ok((code, String::from_utf8_lossy(&output.stdout).into_owned()))
                }
                Err(e) => Err(format!("{command}: {e}")),
            }),
            () = self.cancel.cancelled() => None,
        }
    }
}

/// CLOCK_MONOTONIC in nanoseconds: since boot, the same in every process and
/// container of the machine.
fn monotonic_ns() -> u64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the struct it is given.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
    now.tv_sec as u64 * 1_000_000_000 + now.tv_nsec as u64
}

fn text_content(text: &str) -> Value {
    json!([{"type": "content", "content": {"type": "text", "text": text}}])
}

/// At most `limit` bytes of `text`, cut at a character boundary.
fn bounded(mut text: String, limit: usize) -> String {
    if text.len() > limit {
        let mut end = limit;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

// A session's history, kept under HOME as agents keep their state, for `session/load`
// in a later process.

fn history_file(session: &str) -> Option<PathBuf> {
    let plain = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    if session.is_empty() || !session.chars().all(plain) {
        return None;
    }
    let home = std::env::var_os("HOME")?;
    Some(
        Path::new(&home)
            .join(".lucid-acp-script/sessions")
            .join(format!("{session}.json")),
    )
}

pub fn stored_history(session: &str) -> Option<Vec<(String, String)>> {
    let text = std::fs::read_to_string(history_file(session)?).ok()?;
    let history: Vec<(String, String)> = serde_json::from_str(&text).ok()?;
    (!history.is_empty()).then_some(history)
}

pub fn store_history(session: &str, history: &[(String, String)]) {
    let Some(path) = history_file(session) else {
        return;
    };
    let stored = path
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| std::fs::write(&path, serde_json::to_string(history).unwrap()));
    if let Err(e) = stored {
        eprintln!(
            "lucid-acp-script: cannot keep the history in {}: {e}",
            path.display()
        );
    }
}
