//! `lucid run --repo <path or URL> "<task>"`: one session from the terminal, on the
//! same engine, sandbox and store as the service, its steps printed as they happen.

use crate::agent::engine::{Agent, AgentEnd};
use crate::config::Settings;
use crate::core::{
    Author, DeliveryId, Event, EventBody, SessionId, SessionState, ThreadRef, Trigger,
};
use crate::sandbox::{DockerEngine, DockerSandboxes, Sandboxes};
use crate::store::{Recorded, Store};
use anyhow::{Context, bail};
use std::io::{IsTerminal, Write};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

pub struct RunRequest {
    pub repo: String,
    pub task: String,
    pub author: String,
}

/// Runs one session and returns how it ended.
pub async fn run(settings: Settings, request: RunRequest) -> anyhow::Result<AgentEnd> {
    let Some(llm) = &settings.llm else {
        bail!("no model is configured: set LUCID_LLM_API_KEY and LUCID_LLM_MODEL (see the README)");
    };
    let model = crate::agent::llm::connect(llm);
    let store = Store::connect(&settings.database_url).await?;
    store.migrate().await?;
    let session = record(&store, &request).await?;

    let engine = Arc::new(DockerEngine::new(&settings.docker_host)?);
    let mut sandbox_settings = settings.sandbox.clone();
    sandbox_settings.pool_size = 0;
    let sandboxes = DockerSandboxes::new(engine, sandbox_settings);
    store
        .transition(session, SessionState::Provisioning, None, None)
        .await?;
    let sandbox = sandboxes
        .create(session, &settings.sandbox.spec)
        .await
        .context("cannot create the sandbox")?;
    clone_into(&request.repo, sandbox.workspace().path())?;
    sandbox.workspace().hand_over()?;
    store
        .transition(session, SessionState::Running, None, None)
        .await?;

    let printer = tokio::spawn(print_events(store.clone(), session));
    let stop = CancellationToken::new();
    let on_ctrl_c = stop.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            on_ctrl_c.cancel();
        }
    });
    let (_follow_ups, inbox) = mpsc::unbounded_channel();
    let agent = Agent {
        model: model.as_ref(),
        sandbox: sandbox.as_ref(),
        store: &store,
        session,
        settings: &settings.agent,
        inbox,
        stop,
    };
    let end = agent.run(&request.task).await;
    let (state, reason) = match &end {
        Ok(AgentEnd::Finished { .. }) => (SessionState::Completed, None),
        Ok(AgentEnd::Stopped) => (SessionState::Cancelled, Some("stopped".to_owned())),
        Ok(other) => (SessionState::Failed, Some(ending(other))),
        Err(e) => (SessionState::Failed, Some(e.to_string())),
    };
    store.transition(session, state, reason, None).await?;
    let _ = printer.await;
    let changes = diff_stat(sandbox.workspace().path());
    sandbox.destroy().await?;
    let end = end?;
    println!("\n{}", ending(&end));
    if !changes.trim().is_empty() {
        println!("\nChanges:\n{changes}");
    }
    Ok(end)
}

async fn record(store: &Store, request: &RunRequest) -> anyhow::Result<SessionId> {
    let id = uuid::Uuid::now_v7().to_string();
    let trigger = Trigger {
        thread: ThreadRef::Web {
            id: format!("cli-{id}"),
        },
        author: Author {
            id: request.author.clone(),
            display_name: request.author.clone(),
        },
        task: request.task.clone(),
        repo: None,
        delivery: DeliveryId::parse(&format!("cli-{id}"))?,
    };
    match store.record_trigger(trigger).await? {
        Recorded::Created(session) => Ok(session.id),
        Recorded::Duplicate { .. } => bail!("a fresh delivery id was seen before"),
    }
}

/// Clones on the host, so no credential ever enters the sandbox.
fn clone_into(repo: &str, workspace: &std::path::Path) -> anyhow::Result<()> {
    let status = Command::new("git")
        .args(["clone", "--quiet", "--", repo, "."])
        .current_dir(workspace)
        .status()
        .context("cannot run git on the host")?;
    if !status.success() {
        bail!("git could not clone {repo}");
    }
    Ok(())
}

fn diff_stat(workspace: &std::path::Path) -> String {
    Command::new("git")
        .args(["-c", "safe.directory=*", "diff", "--stat"])
        .current_dir(workspace)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

fn ending(end: &AgentEnd) -> String {
    match end {
        AgentEnd::Finished { .. } => format!("Finished: {}", end.describe()),
        AgentEnd::Stopped => "Stopped at your request".to_owned(),
        AgentEnd::ModelFailed(_) => format!("Failed: {}", end.describe()),
        _ => format!("Stopped: {}", end.describe()),
    }
}

/// Prints the session's events as they are logged, until it has finished.
async fn print_events(store: Store, session: SessionId) {
    let mut announced = store.subscribe();
    let colour = std::io::stdout().is_terminal();
    let mut seen = 0;
    loop {
        let finished = matches!(store.session(session).await, Ok(Some(s)) if s.state.is_terminal());
        if let Ok(events) = store.events_after(session, seen, 500).await {
            for event in events {
                seen = event.seq;
                print_event(&event, colour);
            }
        }
        if finished {
            return;
        }
        let _ = tokio::time::timeout(Duration::from_secs(1), announced.recv()).await;
    }
}

fn print_event(event: &Event, colour: bool) {
    let paint = |code: &str, text: &str| {
        if colour {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    };
    let line = match &event.body {
        EventBody::Thought { text } => paint("36", text),
        EventBody::Command { command } => paint("1", &format!("$ {command}")),
        EventBody::Output { text, exit_code } => {
            let code = exit_code.map_or_else(|| "killed".to_owned(), |c| format!("exit {c}"));
            format!("{}{}", text, paint("2", &format!("[{code}]")))
        }
        EventBody::FileEdit { diff, .. } => diff
            .lines()
            .map(|l| match l.chars().next() {
                Some('+') if !l.starts_with("+++") => paint("32", l),
                Some('-') if !l.starts_with("---") => paint("31", l),
                _ => l.to_owned(),
            })
            .collect::<Vec<_>>()
            .join("\n"),
        EventBody::Status { state, message } => paint(
            "2",
            &format!(
                "[{state}{}]",
                message
                    .as_ref()
                    .map(|m| format!(": {m}"))
                    .unwrap_or_default()
            ),
        ),
        EventBody::UserMessage { author, text } => format!("{author}: {text}"),
        EventBody::PrOpened { url, .. } => format!("Pull request: {url}"),
        EventBody::Usage {
            tokens_in,
            tokens_out,
            cost_micros,
        } => paint(
            "2",
            &format!(
                "[{tokens_in} in / {tokens_out} out, ${:.4}]",
                *cost_micros as f64 / 1e6
            ),
        ),
        EventBody::Error { message } => paint("31", &format!("error: {message}")),
    };
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
}
