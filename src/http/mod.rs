//! lucid's HTTP face: health and readiness, Prometheus metrics, the JSON API (with its
//! live event stream) under `/api/v1`, and lucid's own pages.

pub(crate) mod actions;
mod agents;
mod api;
mod auth;
mod checkpoints;
mod error;
mod guard;
mod health;
pub mod metrics;
mod pages;
mod permissions;
mod serve;
mod shares;
mod stream;
mod usage;

pub use error::ApiError;
pub use guard::HttpLimits;
pub use metrics::Metrics;
pub use serve::serve;

use crate::sandbox::DockerEngine;
use crate::store::Store;
use axum::Router;
use axum::routing::get;
use secrecy::SecretString;
use std::sync::Arc;
use tower_http::trace::TraceLayer;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub docker: Arc<DockerEngine>,
    pub api_token: Option<Arc<SecretString>>,
    pub metrics: Arc<Metrics>,
    /// Starting, steering and stopping sessions by hand (`serve` gives it).
    pub actions: Option<Arc<actions::Actions>>,
    /// Who may see the pages, and the links to them.
    pub links: crate::web::Links,
    /// The sessions' pages watched live, each read once for all its viewers.
    pub feeds: Arc<pages::Feeds>,
    /// What the platforms last answered lucid's tokens (`/readyz` shows it).
    pub platforms: Arc<crate::doctor::LastChecks>,
    /// The body limit and deadline, and the API's request rate.
    pub guard: Arc<guard::Guard>,
    /// Making lucid's GitHub App from its pages (needs LUCID_SECRET_KEY).
    pub github_setup: Option<Arc<crate::github::AppSetup>>,
}

impl AppState {
    pub fn new(store: Store, docker: Arc<DockerEngine>, api_token: Option<SecretString>) -> Self {
        let access = crate::web::Access::new(api_token.as_ref(), None, None, true);
        Self {
            store,
            docker,
            api_token: api_token.map(Arc::new),
            metrics: Arc::new(Metrics::new()),
            actions: None,
            links: crate::web::Links::new("", Arc::new(access)),
            feeds: Arc::default(),
            platforms: Arc::default(),
            guard: Arc::new(guard::Guard::new(HttpLimits::default())),
            github_setup: None,
        }
    }

    /// The state with the GitHub App setup's pages on.
    pub fn with_github_setup(mut self, setup: Option<Arc<crate::github::AppSetup>>) -> Self {
        self.github_setup = setup;
        self
    }

    /// The state with these HTTP limits (the settings' defaults otherwise).
    pub fn with_http_limits(mut self, limits: HttpLimits) -> Self {
        self.guard = Arc::new(guard::Guard::new(limits));
        self
    }

    /// The state with the links lucid posts (and so the keys its pages check).
    pub fn with_links(mut self, links: crate::web::Links) -> Self {
        self.links = links;
        self
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

/// The API's routes with their OpenAPI document, built together so that the document
/// names every route and no other (`GET /api/v1/openapi.json` serves it).
fn api_routes() -> OpenApiRouter<AppState> {
    let mut routes = OpenApiRouter::new()
        .routes(routes!(api::list_sessions, actions::start_session))
        .routes(routes!(
            api::get_session,
            actions::rename_session,
            actions::delete_session
        ))
        .routes(routes!(actions::say_to_session))
        .routes(routes!(actions::stop_session))
        .routes(routes!(shares::make_share, shares::revoke_shares))
        .routes(routes!(api::list_events))
        .routes(routes!(checkpoints::list_checkpoints))
        .routes(routes!(checkpoints::revert))
        .routes(routes!(permissions::answer_permission))
        .routes(routes!(stream::stream_events))
        .routes(routes!(usage::usage))
        .routes(routes!(agents::list_agents));
    let document = routes.get_openapi_mut();
    document.info.title = "lucid".to_owned();
    document.info.version = env!("CARGO_PKG_VERSION").to_owned();
    document.info.description = Some(
        "lucid's API, under /api/v1; every route takes `Authorization: Bearer <LUCID_API_TOKEN>`."
            .to_owned(),
    );
    document.servers = Some(vec![utoipa::openapi::Server::new("/api/v1")]);
    routes
}

pub fn router(state: AppState) -> Router {
    router_with(state, Router::new())
}

/// The router with the platforms' webhook routes (`webhooks`, state already given)
/// behind the same limits, metrics and tracing.
pub fn router_with(state: AppState, webhooks: Router) -> Router {
    let (api, document) = api_routes().split_for_parts();
    let api = api.route_layer(axum::middleware::from_fn_with_state(
        state.clone(),
        auth::require_api_token,
    ));
    let document = Arc::new(document);
    // The API and the pages, under the API's request rate; not the webhooks (the
    // platforms retry), the probes or the previews.
    let limited = Router::new()
        .nest("/api/v1", api)
        .route(
            "/api/v1/openapi.json",
            get(move || {
                let document = document.clone();
                async move { axum::Json((*document).clone()) }
            }),
        )
        .merge(pages::routes())
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            guard::rate_limit,
        ));
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics::render))
        .merge(limited)
        .merge(pages::preview_routes())
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
        // Bodies are read whole (within the limit and the deadline) before any
        // handler; the extractors' own limit would only get in the way of a larger
        // LUCID_MAX_BODY_BYTES.
        .layer(axum::extract::DefaultBodyLimit::disable())
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            guard::bounded_body,
        ))
        .layer(TraceLayer::new_for_http())
        .layer(axum::middleware::from_fn(metrics::stamp_arrival))
}
