//! `lucid serve`: open the store, bring its schema up to date, answer HTTP until
//! told to stop.

use crate::config::Settings;
use crate::http::{AppState, router_with};
use crate::registry::{Context, Registry};
use crate::sandbox::{DockerEngine, DockerSandboxes};
use crate::store::Store;
use crate::worker::Worker;
use anyhow::Context as _;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// How often idle and expired sandboxes are looked for.
const REAP_EVERY: Duration = Duration::from_secs(30);

pub async fn run(settings: Settings) -> anyhow::Result<()> {
    run_with(
        settings,
        |_| {},
        shutdown_signal().context("cannot install signal handlers")?,
    )
    .await
}

/// `lucid serve` with a say in the registry before it starts (`extend` may add
/// parts: a platform of its own, say), stopping when `shutdown` resolves.
pub async fn run_with(
    settings: Settings,
    extend: impl FnOnce(&mut Registry),
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let listener = TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("cannot listen on {}", settings.listen))?;
    run_on(listener, settings, extend, shutdown).await
}

/// [`run_with`] on a listener the caller bound (and so knows the address of).
pub async fn run_on(
    listener: TcpListener,
    mut settings: Settings,
    extend: impl FnOnce(&mut Registry),
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
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

    let address = listener.local_addr()?;
    tracing::info!(%address, "lucid listening on http://{address}");
    // Links in threads point at the port actually bound when none was chosen.
    if settings.listen.port() == 0 && settings.public_url == format!("http://{}", settings.listen) {
        settings.public_url = format!("http://{address}");
    }

    let github = crate::github::GithubStart::load(&settings, &store).await?;
    let context = Context {
        store: store.clone(),
        workspaces: sandboxes.settings().workspaces.clone(),
        github: github.link.clone(),
    };
    let mut registry = crate::registry::build(&settings, &context)?;
    extend(&mut registry);
    let registry = Arc::new(registry);
    let access = Arc::new(crate::web::Access::from_settings(&settings));
    let links = crate::web::Links::new(&settings.public_url, access);
    let intake = registry.intake(&store, &links);
    let webhooks = registry.routes(&intake);

    let stop_work = tokio_util::sync::CancellationToken::new();
    registry.listen(&intake, &stop_work);
    // Requests held while the forge could not be asked are decided once it answers.
    let platforms = registry.clone();
    crate::background::spawn(crate::chat::held::retry_held_until(
        intake.clone(),
        move |platform| platforms.platform(platform).cloned(),
        stop_work.clone(),
    ));
    let sandboxes: Arc<DockerSandboxes> = Arc::new(sandboxes);
    let worker = start_worker(
        &settings,
        &store,
        &sandboxes,
        &registry,
        &links,
        stop_work.clone(),
    );

    let state = AppState::new(store.clone(), docker, settings.api_token.clone())
        .with_actions(intake.clone(), registry.clone())
        .with_links(links.clone())
        .with_github_setup(github.setup.clone());
    // An App another replica's setup kept connects this one too.
    if let Some(setup) = github.setup {
        crate::background::spawn(setup.follow_the_store(stop_work.clone()));
    }
    // What doctor would say of each token, asked now and then, for /readyz.
    crate::background::spawn(crate::doctor::platforms::keep_checking(
        crate::doctor::PlatformProbe::new(&settings).with_store(&settings, store.clone()),
        store.clone(),
        state.platforms.clone(),
        stop_work.clone(),
    ));
    crate::http::serve(
        listener,
        router_with(state.with_http_limits(settings.http), webhooks),
        &settings.http,
        shutdown,
    )
    .await;
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
    match sandboxes.prune_prepared().await {
        Ok(0) => {}
        Ok(removed) => tracing::info!(removed, "removed old prepared sandbox images"),
        Err(e) => tracing::warn!(error = %e, "could not prune prepared sandbox images"),
    }
    sandboxes.refill_in_background();
}

/// Resolves at Ctrl-C or SIGTERM. The handlers are installed when this is called,
/// not when the future is first polled: a stop that comes right after "listening"
/// must be graceful.
pub fn shutdown_signal() -> std::io::Result<impl Future<Output = ()>> {
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

/// Starts taking sessions, if there is something to run them with.
fn start_worker(
    settings: &Settings,
    store: &Store,
    sandboxes: &Arc<DockerSandboxes>,
    registry: &Arc<Registry>,
    links: &crate::web::Links,
    stop: tokio_util::sync::CancellationToken,
) -> Option<tokio::task::JoinHandle<()>> {
    if registry.agent().is_none() {
        tracing::warn!(
            "no model is configured (LUCID_LLM_API_KEY, LUCID_LLM_MODEL): sessions stay queued"
        );
        return None;
    }
    if registry.forge_names().is_empty() {
        tracing::warn!("no forge is configured (GitHub): sessions stay queued");
        return None;
    }
    let worker = Arc::new(Worker {
        store: store.clone(),
        sandboxes: sandboxes.clone(),
        spec: settings.sandbox.spec.clone(),
        registry: registry.clone(),
        links: links.clone(),
        owner: format!("lucid-{}", uuid::Uuid::now_v7()),
        max_sessions: settings.max_sessions,
        lease: settings.lease,
        draft_on_budget: settings.draft_on_budget,
    });
    Some(crate::background::spawn(worker.run(stop)))
}
