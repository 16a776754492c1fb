//! `lucid-acp-script`: a scripted agent speaking the Agent Client Protocol (v1) over
//! stdio, for lucid's tests. It is written from the protocol's documents with
//! serde_json alone, not with the `agent-client-protocol` SDK lucid's client uses, so
//! a test that passes through it proves the wire format and not merely one library
//! agreeing with itself.
//!
//! `lucid-acp-script --scenario <name> [--no-model] [--auth gateway] [--count N] [--rate R]`:
//! JSON-RPC 2.0, one message a line,
//! requests and notifications from stdin, answers and updates to stdout, a log on
//! stderr. The scenarios are in `turns.rs`; this file is the protocol: the methods an
//! agent answers, the requests it makes (`session/request_permission`), and the
//! state of its sessions.

#![cfg_attr(test, allow(dead_code))] // cargo also finds this file as a test target (tests/*/main.rs)

mod model;
mod turns;
mod wire;

use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;
use turns::{End, Turn};
use wire::{INVALID_PARAMS, INVALID_REQUEST, METHOD_NOT_FOUND, Out, PARSE_ERROR};

/// What each scenario does is in `turns.rs`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    Fix,
    Load,
    Slow,
    Deaf,
    Crash,
    Violate,
    Garbage,
    Permission,
    Refuse,
    MaxTokens,
    Burst,
}

impl Scenario {
    fn parse(name: &str) -> Option<Scenario> {
        Some(match name {
            "fix" => Scenario::Fix,
            "load" => Scenario::Load,
            "slow" => Scenario::Slow,
            "deaf" => Scenario::Deaf,
            "crash" => Scenario::Crash,
            "violate" => Scenario::Violate,
            "garbage" => Scenario::Garbage,
            "permission" => Scenario::Permission,
            "refuse" => Scenario::Refuse,
            "max_tokens" => Scenario::MaxTokens,
            "burst" => Scenario::Burst,
            _ => return None,
        })
    }
}

/// Whether the model is reached only as `authenticate` said (`--auth gateway`).
static GATEWAY_AUTH_ONLY: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

pub fn gateway_auth_only() -> bool {
    GATEWAY_AUTH_ONLY.load(Ordering::Relaxed)
}

/// The one directory sessions may work in.
const WORKSPACE: &str = "/workspace";

/// An answer to a request this agent made: its `result`, or its `error` object.
pub type Reply = Result<Value, Value>;

pub struct Agent {
    pub scenario: Scenario,
    /// `--no-model`: the `fix` turn skips asking the model (for runs without a gateway).
    pub no_model: bool,
    /// `--auth gateway`: it offers a gateway authentication method (as Gemini CLI
    /// does: `_meta.gateway` naming the protocol) and asks its model only where
    /// `authenticate` said, never where its environment says.
    pub gateway_auth: bool,
    /// `--count N --rate R`: the `burst` turn's updates, and how many a second (0: as
    /// fast as they can be written).
    pub burst: (u64, f64),
    pub out: Out,
    sessions: Mutex<HashMap<String, Session>>,
    /// Requests this agent sent, by id, waiting for the client's answer.
    pending: Mutex<HashMap<u64, oneshot::Sender<Reply>>>,
    next_request: AtomicU64,
    next_name: AtomicU64,
}

struct Session {
    cwd: PathBuf,
    /// Turns finished in this session (a loaded session counts its history).
    turns: u32,
    /// The turn in progress: cancelling it is what `session/cancel` does.
    running: Option<CancellationToken>,
    /// Each finished turn's prompt and what the agent said, kept for `session/load`.
    history: Vec<(String, String)>,
}

impl Agent {
    /// A fresh name: `<prefix>-<n>`, unique within this process.
    pub fn name(&self, prefix: &str) -> String {
        let n = self.next_name.fetch_add(1, Ordering::Relaxed) + 1;
        format!("{prefix}-{n}")
    }

    /// Sends a request to the client and waits for its answer, matched by id. The
    /// answer never comes if the client never sends it; callers race it against
    /// their turn's cancellation.
    pub async fn request(&self, method: &str, params: Value) -> Reply {
        let id = self.next_request.fetch_add(1, Ordering::Relaxed) + 1;
        let (tx, rx) = oneshot::channel();
        self.pending.lock().unwrap().insert(id, tx);
        self.out
            .send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        rx.await.unwrap_or_else(|_| {
            Err(json!({"code": -32603, "message": "the agent stopped waiting"}))
        })
    }
}

fn main() {
    let mut scenario = None;
    let mut no_model = false;
    let mut gateway_auth = false;
    let mut burst = (10_000u64, 0.0f64);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--scenario" => scenario = args.next(),
            "--no-model" => no_model = true,
            "--auth" => match args.next().as_deref() {
                Some("gateway") => gateway_auth = true,
                other => eprintln!("lucid-acp-script: --auth takes `gateway`, not {other:?}"),
            },
            "--count" => match args.next().and_then(|n| n.parse().ok()) {
                Some(count) => burst.0 = count,
                None => eprintln!("lucid-acp-script: --count takes a number"),
            },
            "--rate" => match args.next().and_then(|n| n.parse().ok()) {
                Some(rate) => burst.1 = rate,
                None => eprintln!("lucid-acp-script: --rate takes a number"),
            },
            other => match other.strip_prefix("--scenario=") {
                Some(name) => scenario = Some(name.to_owned()),
                None => eprintln!("lucid-acp-script: ignoring the argument {other:?}"),
            },
        }
    }
    let Some(scenario) = scenario.as_deref().and_then(Scenario::parse) else {
        eprintln!(
            "lucid-acp-script: usage: lucid-acp-script --scenario \
             fix|load|slow|deaf|crash|violate|garbage|permission|refuse|max_tokens|burst \
             [--no-model] [--auth gateway] [--count N] [--rate R] \
             (got {scenario:?})"
        );
        std::process::exit(2);
    };
    GATEWAY_AUTH_ONLY.store(gateway_auth, Ordering::Relaxed);
    if scenario == Scenario::Deaf {
        // A deaf agent hears no signal it may ignore: only SIGKILL (of its process
        // group, by lucid) ends it.
        for signal in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
            // SAFETY: setting a signal's disposition to SIG_IGN before any thread starts.
            unsafe { libc::signal(signal, libc::SIG_IGN) };
        }
    }
    eprintln!(
        "lucid-acp-script: scenario {scenario:?}, pid {}",
        std::process::id()
    );
    let agent = Arc::new(Agent {
        scenario,
        no_model,
        gateway_auth,
        burst,
        out: Out::start(),
        sessions: Mutex::new(HashMap::new()),
        pending: Mutex::new(HashMap::new()),
        next_request: AtomicU64::new(0),
        next_name: AtomicU64::new(0),
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(serve(agent.clone()));
    if scenario == Scenario::Deaf {
        // Deaf to the end of its input as well: it lingers as a stuck agent would.
        eprintln!("lucid-acp-script: stdin ended; deaf, so staying");
        std::thread::sleep(turns::LONG_WAIT);
    }
    agent.out.sync();
    eprintln!("lucid-acp-script: stdin ended, exiting");
    std::process::exit(0);
}

/// The ways it offers to be given its model: with `--auth gateway`, a gateway (the
/// shape Gemini CLI uses: the method's `_meta.gateway` names the protocol spoken).
fn auth_methods(agent: &Agent) -> Value {
    if agent.gateway_auth {
        json!([
            {"id": "login", "name": "Log in with a browser"},
            {"id": "gateway", "name": "AI API Gateway", "description": "Use a custom AI API gateway",
             "_meta": {"gateway": {"protocol": "openai", "restartRequired": "false"}}},
        ])
    } else {
        json!([])
    }
}

/// `authenticate`: with the gateway method, its `_meta.gateway` must give a base URL
/// and headers, which every model request then uses.
fn authenticate(agent: &Agent, params: &Value) -> Result<(), String> {
    if !agent.gateway_auth {
        return Ok(());
    }
    match params["methodId"].as_str() {
        Some("gateway") => {}
        other => return Err(format!("the method {other:?} cannot work here")),
    }
    let gateway = &params["_meta"]["gateway"];
    let base_url = gateway["baseUrl"]
        .as_str()
        .ok_or("Malformed gateway payload: no baseUrl")?;
    let headers: HashMap<String, String> = serde_json::from_value(gateway["headers"].clone())
        .map_err(|e| format!("Malformed gateway payload: headers: {e}"))?;
    eprintln!(
        "lucid-acp-script: authenticated through the gateway at {base_url} (headers: {})",
        headers.keys().cloned().collect::<Vec<_>>().join(", ")
    );
    model::use_gateway(base_url, headers);
    Ok(())
}

/// Reads messages until stdin ends.
async fn serve(agent: Arc<Agent>) {
    let mut stdin = BufReader::with_capacity(1 << 20, tokio::io::stdin());
    let mut line = Vec::new();
    loop {
        line.clear();
        match stdin.read_until(b'\n', &mut line).await {
            Ok(0) => return,
            Ok(_) => handle(&agent, &line),
            Err(e) => {
                eprintln!("lucid-acp-script: reading stdin: {e}");
                return;
            }
        }
    }
}

fn handle(agent: &Arc<Agent>, line: &[u8]) {
    let text = String::from_utf8_lossy(line);
    let text = text.trim();
    if text.is_empty() {
        return;
    }
    let shown: String = text.chars().take(300).collect();
    eprintln!("lucid-acp-script: <- {shown}");
    let message: Value = match serde_json::from_str(text) {
        Ok(message) => message,
        Err(e) => {
            agent.out.error(
                &Value::Null,
                PARSE_ERROR,
                &format!("Parse error: {e}"),
                None,
            );
            return;
        }
    };
    let id = message.get("id").cloned();
    let method = message.get("method").and_then(Value::as_str);
    if message.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        agent.out.error(
            &id.unwrap_or(Value::Null),
            INVALID_REQUEST,
            "Invalid Request: \"jsonrpc\" must be \"2.0\"",
            None,
        );
        return;
    }
    let params = message.get("params").cloned().unwrap_or(Value::Null);
    match (method, id) {
        (Some(method), Some(id)) => request(agent, method, id, params),
        (Some(method), None) => notification(agent, method, &params),
        (None, Some(id)) if message.get("result").is_some() || message.get("error").is_some() => {
            let reply = match message.get("error") {
                Some(error) => Err(error.clone()),
                None => Ok(message["result"].clone()),
            };
            let waiting = id
                .as_u64()
                .and_then(|n| agent.pending.lock().unwrap().remove(&n));
            match waiting {
                Some(tx) => {
                    let _ = tx.send(reply);
                }
                None => eprintln!("lucid-acp-script: an answer to no request of mine: id {id}"),
            }
        }
        (None, id) => agent.out.error(
            &id.unwrap_or(Value::Null),
            INVALID_REQUEST,
            "Invalid Request: neither a method nor a result",
            None,
        ),
    }
}

fn notification(agent: &Arc<Agent>, method: &str, params: &Value) {
    match method {
        "session/cancel" => {
            let session = params["sessionId"].as_str().unwrap_or_default();
            if agent.scenario == Scenario::Deaf {
                eprintln!("lucid-acp-script: deaf: ignoring session/cancel for {session}");
                return;
            }
            let sessions = agent.sessions.lock().unwrap();
            match sessions.get(session).and_then(|s| s.running.as_ref()) {
                Some(running) => running.cancel(),
                None => eprintln!("lucid-acp-script: session/cancel with no turn running"),
            }
        }
        other => eprintln!("lucid-acp-script: ignoring the notification {other}"),
    }
}

fn request(agent: &Arc<Agent>, method: &str, id: Value, params: Value) {
    let out = &agent.out;
    match method {
        "initialize" => out.result(
            &id,
            json!({
                "protocolVersion": 1,
                "agentCapabilities": {
                    "loadSession": agent.scenario == Scenario::Load,
                    "promptCapabilities": {"image": false, "audio": false, "embeddedContext": false},
                    "mcpCapabilities": {"http": false, "sse": false},
                },
                "agentInfo": {"name": "lucid-acp-script", "version": "0.1.0"},
                "authMethods": auth_methods(agent),
            }),
        ),
        "authenticate" => match authenticate(agent, &params) {
            Ok(()) => out.result(&id, json!({})),
            Err(message) => out.error(&id, INVALID_PARAMS, &message, None),
        },
        "session/new" => {
            let cwd = match workspace(&params) {
                Ok(cwd) => cwd,
                Err(message) => return out.error(&id, INVALID_PARAMS, &message, None),
            };
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos());
            let session = format!(
                "sess-{:x}{nanos:08x}-{}",
                std::process::id(),
                agent.name("s").trim_start_matches("s-")
            );
            agent.sessions.lock().unwrap().insert(
                session.clone(),
                Session {
                    cwd,
                    turns: 0,
                    running: None,
                    history: Vec::new(),
                },
            );
            out.result(&id, json!({"sessionId": session}));
        }
        "session/load" if agent.scenario == Scenario::Load => load(agent, id, &params),
        "session/prompt" => prompt(agent, id, &params),
        other => out.error(
            &id,
            METHOD_NOT_FOUND,
            &format!("Method not found: {other}"),
            Some(json!({"method": other})),
        ),
    }
}

/// The session's working directory, which must be the sandbox's workspace.
fn workspace(params: &Value) -> Result<PathBuf, String> {
    match params.get("cwd").and_then(Value::as_str) {
        Some(WORKSPACE) => Ok(PathBuf::from(WORKSPACE)),
        Some(other) => Err(format!(
            "Invalid params: cwd must be {WORKSPACE}, not {other}"
        )),
        None => Err("Invalid params: no cwd".to_owned()),
    }
}

/// `session/load`: replays the session's history as `session/update` notifications,
/// then answers. The history is what an earlier process of this agent kept under
/// HOME for that session; when there is none (a fresh sandbox), a scripted earlier
/// turn is replayed instead.
fn load(agent: &Arc<Agent>, id: Value, params: &Value) {
    let out = &agent.out;
    let cwd = match workspace(params) {
        Ok(cwd) => cwd,
        Err(message) => return out.error(&id, INVALID_PARAMS, &message, None),
    };
    let Some(session) = params.get("sessionId").and_then(Value::as_str) else {
        return out.error(&id, INVALID_PARAMS, "Invalid params: no sessionId", None);
    };
    let history = turns::stored_history(session).unwrap_or_else(|| {
        vec![(
            "Fix the failing test".to_owned(),
            "Fixed add in calc.py; the test passes now.".to_owned(),
        )]
    });
    for (prompt, said) in &history {
        let text = |text: &str| json!({"type": "text", "text": text});
        out.update(
            session,
            json!({"sessionUpdate": "user_message_chunk", "content": text(prompt)}),
        );
        if !said.is_empty() {
            out.update(
                session,
                json!({"sessionUpdate": "agent_message_chunk", "content": text(said)}),
            );
        }
    }
    agent.sessions.lock().unwrap().insert(
        session.to_owned(),
        Session {
            cwd,
            turns: history.len().max(1) as u32,
            running: None,
            history,
        },
    );
    out.result(&id, json!({}));
}

/// `session/prompt`: runs the scenario's turn in a task of its own (so that
/// `session/cancel` and answers to the agent's requests are read meanwhile) and
/// answers with its stop reason, or with an error when the turn failed.
fn prompt(agent: &Arc<Agent>, id: Value, params: &Value) {
    let out = &agent.out;
    let Some(session) = params.get("sessionId").and_then(Value::as_str) else {
        return out.error(&id, INVALID_PARAMS, "Invalid params: no sessionId", None);
    };
    let Some(blocks) = params.get("prompt").and_then(Value::as_array) else {
        return out.error(&id, INVALID_PARAMS, "Invalid params: no prompt", None);
    };
    let text = prompt_text(blocks);
    let cancel = CancellationToken::new();
    let (cwd, index) = {
        let mut sessions = agent.sessions.lock().unwrap();
        let Some(state) = sessions.get_mut(session) else {
            return out.error(
                &id,
                INVALID_PARAMS,
                &format!("Invalid params: no session {session}"),
                None,
            );
        };
        if state.running.is_some() {
            return out.error(
                &id,
                INVALID_REQUEST,
                "a prompt turn is already running in this session",
                None,
            );
        }
        state.running = Some(cancel.clone());
        (state.cwd.clone(), state.turns)
    };
    let mut turn = Turn::new(agent.clone(), session.to_owned(), cwd, text, cancel, index);
    let agent = agent.clone();
    let session = session.to_owned();
    tokio::spawn(async move {
        let end = turn.run().await;
        {
            let mut sessions = agent.sessions.lock().unwrap();
            if let Some(state) = sessions.get_mut(&session) {
                state.running = None;
                state.turns += 1;
                state.history.push((turn.prompt.clone(), turn.said.clone()));
                turns::store_history(&session, &state.history);
            }
        }
        eprintln!("lucid-acp-script: the turn ended: {end:?}");
        match end {
            End::Stop(reason) => agent.out.result(&id, json!({"stopReason": reason})),
            End::Error {
                code,
                message,
                data,
            } => agent.out.error(&id, code, &message, data),
        }
    });
}

/// The prompt as text: its text blocks, and the text of embedded resources.
fn prompt_text(blocks: &[Value]) -> String {
    let mut parts = Vec::new();
    for block in blocks {
        match block["type"].as_str() {
            Some("text") => parts.push(block["text"].as_str().unwrap_or_default().to_owned()),
            Some("resource") => {
                if let Some(text) = block["resource"]["text"].as_str() {
                    parts.push(text.to_owned());
                }
            }
            Some("resource_link") => {
                parts.push(block["uri"].as_str().unwrap_or_default().to_owned())
            }
            _ => {}
        }
    }
    parts.join("\n")
}
