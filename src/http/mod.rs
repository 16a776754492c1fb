//! lucid's HTTP face: health and readiness, Prometheus metrics, and the JSON API
//! (with its live event stream) under `/api/v1`.

mod actions;
mod api;
mod auth;
mod error;
mod health;
pub mod metrics;
mod stream;
mod usage;

pub use error::ApiError;
pub use metrics::Metrics;

use crate::sandbox::DockerEngine;
use crate::store::Store;
use axum::Router;
use axum::routing::{get, post};
use secrecy::SecretString;
use std::sync::Arc;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::trace::TraceLayer;

/// Webhook bodies are small; anything bigger than this is refused before it is read.
const MAX_BODY_BYTES: usize = 1024 * 1024;

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub docker: Arc<DockerEngine>,
    pub api_token: Option<Arc<SecretString>>,
    pub metrics: Arc<Metrics>,
    /// Starting, steering and stopping sessions by hand (`serve` gives it).
    pub actions: Option<Arc<actions::Actions>>,
}

impl AppState {
    pub fn new(store: Store, docker: Arc<DockerEngine>, api_token: Option<SecretString>) -> Self {
        Self {
            store,
            docker,
            api_token: api_token.map(Arc::new),
            metrics: Arc::new(Metrics::new()),
            actions: None,
        }
    }

    /// The state with the acting routes on.
    pub fn with_actions(
        mut self,
        intake: crate::chat::Intake,
        registry: Arc<crate::registry::Registry>,
    ) -> Self {
        self.actions = Some(Arc::new(actions::Actions { intake, registry }));
        self
    }
}

pub fn router(state: AppState) -> Router {
    router_with(state, Router::new())
}

/// The router with the platforms' webhook routes (`webhooks`, state already given)
/// behind the same limits, metrics and tracing.
pub fn router_with(state: AppState, webhooks: Router) -> Router {
    let api = Router::new()
        .route(
            "/sessions",
            get(api::list_sessions).post(actions::start_session),
        )
        .route("/sessions/{id}/messages", post(actions::say_to_session))
        .route("/sessions/{id}/stop", post(actions::stop_session))
        .route(
            "/sessions/{id}",
            get(api::get_session)
                .patch(actions::rename_session)
                .delete(actions::delete_session),
        )
        .route("/sessions/{id}/events", get(api::list_events))
        .route("/sessions/{id}/events/stream", get(stream::stream_events))
        .route("/usage", get(usage::usage))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_api_token,
        ));
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics::render))
        .nest("/api/v1", api)
        .with_state(state.clone())
        .merge(webhooks)
        .fallback(|| async { ApiError::not_found("no such route") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                axum::http::StatusCode::METHOD_NOT_ALLOWED,
                "this route does not take that method",
            )
        })
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::count_requests,
        ))
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        .layer(TraceLayer::new_for_http())
}
