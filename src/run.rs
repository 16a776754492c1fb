//! `lucid run --repo <path or URL> "<task>"`: one session from the terminal, on the
//! same engine, sandbox, store and session driver as the service, its steps printed
//! as they happen.

use crate::agent::JobEnd;
use crate::agent::builtin::BuiltinAgent;
use crate::config::Settings;
use crate::core::{
    Author, DeliveryId, Event, EventBody, Session, SessionId, SessionState, ThreadRef, Trigger,
};
use crate::forge::local::LocalForge;
use crate::sandbox::{DockerEngine, DockerSandboxes};
use crate::store::{Recorded, Store};
use crate::worker::driver::{Parts, drive};
use anyhow::bail;
use std::io::{IsTerminal, Write};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

pub struct RunRequest {
    pub repo: String,
    pub task: String,
    pub author: String,
}

/// Runs one session and returns how it ended.
pub async fn run(settings: Settings, request: RunRequest) -> anyhow::Result<JobEnd> {
    let Some(llm) = &settings.llm else {
        bail!("no model is configured: set LUCID_LLM_API_KEY and LUCID_LLM_MODEL (see the README)");
    };
    let store = Store::connect(&settings.database_url).await?;
    store.migrate().await?;
    let session = record(&store, &request).await?;

    let engine = Arc::new(DockerEngine::new(&settings.docker_host)?);
    let mut sandbox_settings = settings.sandbox.clone();
    sandbox_settings.pool_size = 0;
    let sandboxes = DockerSandboxes::new(engine, sandbox_settings);
    let agent = BuiltinAgent {
        model: crate::agent::llm::connect(llm),
        settings: settings.agent.clone(),
        store: store.clone(),
    };
    let forge = LocalForge::new(&request.repo);

    let printer = tokio::spawn(print_events(store.clone(), session.id));
    let stop = CancellationToken::new();
    let on_ctrl_c = stop.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            on_ctrl_c.cancel();
        }
    });
    let parts = Parts {
        store: &store,
        sandboxes: &sandboxes,
        spec: &settings.sandbox.spec,
        forge: &forge,
        agent: &agent,
        lease_owner: None,
        session_url: "",
        asker: &request.author,
        asked_on: "the terminal",
        linked: None,
        platform: None,
        draft_on_budget: false,
        previews: None,
        keep_checkpoints: false,
    };
    let ending = drive(&parts, &session, stop).await;
    let _ = printer.await;
    let end = match ending.state {
        SessionState::Completed => JobEnd::Finished {
            summary: ending.reason.unwrap_or_default(),
        },
        SessionState::Cancelled => JobEnd::Stopped,
        _ => JobEnd::Failed {
            reason: ending.reason.unwrap_or_default(),
        },
    };
    println!("\n{}", describe(&end));
    let changes = forge.changes();
    if !changes.trim().is_empty() {
        println!("\nChanges:\n{changes}");
    }
    Ok(end)
}

async fn record(store: &Store, request: &RunRequest) -> anyhow::Result<Session> {
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
        title: None,
        repo: None,
        delivery: DeliveryId::parse(&format!("cli-{id}"))?,
        agent: None,
    };
    match store.record_trigger(trigger).await? {
        Recorded::Created(session) => Ok(*session),
        Recorded::Duplicate { .. } => bail!("a fresh delivery id was seen before"),
    }
}

fn describe(end: &JobEnd) -> String {
    match end {
        JobEnd::Finished { summary } => format!("Finished: {summary}"),
        JobEnd::Stopped => "Stopped at your request".to_owned(),
        JobEnd::Failed { reason } => format!("Failed: {reason}"),
        JobEnd::OutOfBudget { reason } => format!("Out of budget: {reason}"),
    }
}

/// Prints the session's events as they are logged, until it has finished.
async fn print_events(store: Store, session: SessionId) {
    let mut watch = store.watch(session);
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
        watch.changed().await;
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
        EventBody::Checkpoint {
            number,
            label,
            files,
        } => paint(
            "2",
            &crate::messages::page::step_mark(*number, label, files.len()),
        ),
        EventBody::RevertAsked { author, checkpoint } => {
            crate::messages::page::asked_to_go_back(author, *checkpoint)
        }
        EventBody::Reverted { checkpoint, files } => {
            crate::messages::went_back(*checkpoint, files.len())
        }
        EventBody::RevertRefused { reason } => {
            paint("31", &crate::messages::page::could_not_go_back(reason))
        }
        EventBody::HostReached { .. } => paint(
            "2",
            &crate::messages::page::host_reached_words(&event.body).unwrap_or_default(),
        ),
        EventBody::PreviewAsked { author, port } => {
            crate::messages::page::asked_to_preview(author, *port)
        }
        EventBody::PreviewOpened { port, url } => {
            format!("{} {url}", crate::messages::page::preview_opened(*port))
        }
        EventBody::PreviewRefused { reason } => {
            paint("31", &crate::messages::page::no_preview(reason))
        }
        EventBody::AgentLog { agent, text } => paint(
            "2",
            &format!("{}\n{text}", crate::messages::agent_log(agent, text)),
        ),
        EventBody::PermissionAsked { number, title, .. } => {
            paint("33", &crate::messages::permission_request(*number, title))
        }
        EventBody::PermissionAnswered {
            author,
            number,
            allow,
        } => crate::messages::permission_answered(author, *number, *allow),
        EventBody::PermissionSettled {
            number,
            outcome,
            by,
        } => paint(
            "2",
            &crate::messages::permission_settled(*number, *outcome, by.as_deref()),
        ),
        EventBody::Prepared {
            image,
            reused,
            took_ms,
        } => paint(
            "2",
            &crate::messages::page::prepared(image, *reused, *took_ms),
        ),
    };
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
}
