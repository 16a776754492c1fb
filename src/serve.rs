//! `lucid serve`: open the store, bring its schema up to date, answer HTTP until
//! told to stop.

use crate::config::Settings;
use crate::http::{AppState, router};
use crate::sandbox::DockerEngine;
use crate::store::Store;
use anyhow::Context;
use tokio::net::TcpListener;

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

    let docker = DockerEngine::new(&settings.docker_host)?;
    if let Err(e) = docker.probe().await {
        // Not fatal: /readyz reports it until the engine answers.
        tracing::warn!(error = %e, "Docker engine not reachable yet");
    }
    if settings.api_token.is_none() {
        tracing::warn!("LUCID_API_TOKEN is not set: /api/v1 answers 401 until it is");
    }

    let listener = TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("cannot listen on {}", settings.listen))?;
    let address = listener.local_addr()?;
    tracing::info!(%address, "lucid listening on http://{address}");

    let state = AppState::new(store.clone(), docker, settings.api_token);
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("the HTTP server failed")?;
    store.close().await;
    tracing::info!("lucid stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
