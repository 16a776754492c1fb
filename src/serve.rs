//! `lucid serve`: open the store, bring its schema up to date, answer HTTP until
//! told to stop.

use crate::config::Settings;
use crate::github::inbound::GithubWebhook;
use crate::github::outbound::client::GithubClient;
use crate::github::outbound::forge::GithubForge;
use crate::http::{AppState, router_with};
use crate::sandbox::{DockerEngine, DockerSandboxes};
use crate::slack::inbound::SlackWebhook;
use crate::slack::outbound::SlackApi;
use crate::slack::outbound::thread::StatusMessages;
use crate::store::Store;
use crate::worker::{GithubParts, SlackParts, Worker};
use anyhow::Context;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// How often idle and expired sandboxes are looked for.
const REAP_EVERY: Duration = Duration::from_secs(30);

pub async fn run(settings: Settings) -> anyhow::Result<()> {
    let store = Store::connect(&settings.database_url)
        .await
        .with_context(|| {
            format!(
                "cannot open the store at {}",
                settings.database_url.redacted()
            )
        })?;
    store
        .migrate()
        .await
        .context("cannot bring the store's schema up to date")?;
    tracing::info!(database = %settings.database_url.redacted(), "store ready");

    let settings_for_worker = WorkerSettings {
        llm: settings.llm.as_ref().map(crate::agent::llm::connect),
        agent: settings.agent.clone(),
        spec: settings.sandbox.spec.clone(),
        public_url: settings.public_url.clone(),
        max_sessions: settings.max_sessions,
        github: settings
            .github
            .as_ref()
            .map(|g| (g.bot_login.clone(), g.edit_interval)),
    };
    let docker = Arc::new(DockerEngine::new(&settings.docker_host)?);
    let sandboxes = DockerSandboxes::new(docker.clone(), settings.sandbox.clone());
    match docker.probe().await {
        Ok(_) => prepare_sandboxes(&store, &sandboxes).await,
        // Not fatal: /readyz reports it until the engine answers.
        Err(e) => tracing::warn!(error = %e, "Docker engine not reachable yet"),
    }
    sandboxes.reap_expired_in_background(REAP_EVERY);
    if settings.api_token.is_none() {
        tracing::warn!("LUCID_API_TOKEN is not set: /api/v1 answers 401 until it is");
    }

    // Handlers first: a stop that comes right after "listening" must be graceful.
    let shutdown = shutdown_signal().context("cannot install signal handlers")?;
    let listener = TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("cannot listen on {}", settings.listen))?;
    let address = listener.local_addr()?;
    tracing::info!(%address, "lucid listening on http://{address}");
    // Links in threads point at the port actually bound when none was chosen.
    let mut settings_for_worker = settings_for_worker;
    if settings.listen.port() == 0
        && settings_for_worker.public_url == format!("http://{}", settings.listen)
    {
        settings_for_worker.public_url = format!("http://{address}");
    }

    let github = match &settings.github {
        Some(github) => Some(Arc::new(
            GithubClient::new(github).context("cannot set up the GitHub client")?,
        )),
        None => None,
    };
    let mut webhooks = axum::Router::new();
    if let (Some(client), Some(github)) = (&github, settings.github) {
        let hook = GithubWebhook::new(store.clone(), Arc::new(github), client.clone());
        webhooks = webhooks.merge(Arc::new(hook).routes());
        tracing::info!("GitHub webhooks at /webhooks/github");
    }
    let slack = settings.slack.map(|slack| {
        let (hook, parts) = slack_parts(slack, &store, &settings_for_worker);
        webhooks = std::mem::take(&mut webhooks).merge(hook.routes());
        tracing::info!("Slack webhooks at /webhooks/slack/{{events,interactions,commands}}");
        parts
    });
    let stop_work = tokio_util::sync::CancellationToken::new();
    let sandboxes = Arc::new(sandboxes);
    let worker = start_worker(
        &settings_for_worker,
        &store,
        &sandboxes,
        github,
        slack,
        stop_work.clone(),
    );

    let state = AppState::new(store.clone(), docker, settings.api_token);
    axum::serve(listener, router_with(state, webhooks))
        .with_graceful_shutdown(shutdown)
        .await
        .context("the HTTP server failed")?;
    stop_work.cancel();
    if let Some(worker) = worker {
        let _ = worker.await;
    }
    sandboxes.drain_pool().await;
    store.close().await;
    tracing::info!("lucid stopped");
    Ok(())
}

/// Removes sandboxes an earlier lucid left behind (those of sessions nobody runs any
/// more), then warms the pool.
async fn prepare_sandboxes(store: &Store, sandboxes: &DockerSandboxes) {
    match store.live_session_ids().await {
        Ok(live) => {
            let live: Vec<String> = live.iter().map(ToString::to_string).collect();
            match sandboxes
                .reap_orphans(|session| live.iter().any(|l| l == session))
                .await
            {
                Ok(0) => {}
                Ok(removed) => tracing::info!(removed, "removed sandboxes left by an earlier run"),
                Err(e) => tracing::warn!(error = %e, "could not look for orphaned sandboxes"),
            }
        }
        Err(e) => tracing::warn!(error = %e, "could not read live sessions; orphans stay for now"),
    }
    sandboxes.refill_in_background();
}

/// Resolves at Ctrl-C or SIGTERM. The handlers are installed when this is called,
/// not when the future is first polled.
fn shutdown_signal() -> std::io::Result<impl Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {},
            _ = terminate.recv() => {},
        }
        tracing::info!("shutting down");
    })
}

/// What the worker needs from the settings, taken before they are handed on.
struct WorkerSettings {
    llm: Option<Arc<dyn crate::agent::llm::ChatModel>>,
    agent: crate::agent::engine::AgentSettings,
    spec: crate::sandbox::SandboxSpec,
    public_url: String,
    max_sessions: usize,
    github: Option<(String, Duration)>,
}

/// Slack's webhook routes, and what the worker needs to keep its threads; learns the
/// bot's user id from `auth.test` in the background.
fn slack_parts(
    settings: crate::config::SlackSettings,
    store: &Store,
    worker: &WorkerSettings,
) -> (Arc<SlackWebhook>, SlackParts) {
    let api = Arc::new(SlackApi::new(
        &settings.api_url,
        &settings.bot_token,
        crate::slack::outbound::client::CHANNEL_INTERVAL,
    ));
    let status_messages = Arc::new(StatusMessages::default());
    let parts = SlackParts {
        api: api.clone(),
        status_messages: status_messages.clone(),
        edit_interval: settings.edit_interval,
    };
    let hook = Arc::new(SlackWebhook {
        store: store.clone(),
        settings: Arc::new(settings),
        api: api.clone(),
        status_messages: status_messages.clone(),
        sessions_url: format!("{}/api/v1/sessions", worker.public_url),
        bot_user_id: std::sync::OnceLock::new(),
    });
    let learning = hook.clone();
    crate::background::spawn(async move {
        match learning.api.identity().await {
            Ok(me) => {
                if !learning.settings.teams.contains(&me.team) {
                    tracing::warn!(team = %me.team, "the Slack bot token belongs to a workspace not in LUCID_SLACK_TEAMS");
                }
                let _ = learning.bot_user_id.set(me.user_id);
            }
            Err(e) => tracing::warn!(error = %e, "could not ask Slack who lucid is (auth.test)"),
        }
    });
    (hook, parts)
}

/// Starts taking sessions, if a model is configured to work on them.
fn start_worker(
    settings: &WorkerSettings,
    store: &Store,
    sandboxes: &Arc<DockerSandboxes>,
    github: Option<Arc<GithubClient>>,
    slack: Option<SlackParts>,
    stop: tokio_util::sync::CancellationToken,
) -> Option<tokio::task::JoinHandle<()>> {
    let Some(model) = settings.llm.clone() else {
        tracing::warn!(
            "no model is configured (LUCID_LLM_API_KEY, LUCID_LLM_MODEL): sessions stay queued"
        );
        return None;
    };
    let github = match (github, &settings.github) {
        (Some(client), Some((bot_login, edit_interval))) => Some(GithubParts {
            forge: GithubForge {
                client: client.clone(),
                bot_login: bot_login.clone(),
                workspaces: sandboxes.settings().workspaces.clone(),
            },
            client,
            edit_interval: *edit_interval,
        }),
        _ => None,
    };
    let worker = Arc::new(Worker {
        store: store.clone(),
        sandboxes: sandboxes.clone(),
        spec: settings.spec.clone(),
        model,
        agent: settings.agent.clone(),
        github,
        slack,
        public_url: settings.public_url.clone(),
        owner: format!("lucid-{}", uuid::Uuid::now_v7()),
        max_sessions: settings.max_sessions,
    });
    Some(crate::background::spawn(worker.run(stop)))
}
