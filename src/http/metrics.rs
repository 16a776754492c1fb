//! `/metrics` in Prometheus text format: HTTP requests by route and status, each
//! platform's webhook answer time, sessions by state and finished ones by platform and
//! outcome, events logged, and the process-wide series of [`crate::metrics`] (first
//! thread messages, runs, sandboxes, models, outbound calls). Store figures are read
//! at scrape time, so every replica reports the same totals.

use super::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    platform: String,
    outcome: &'static str,
}

/// Webhook routes are `/webhooks/<platform>` or below it: the platform is read from
/// the route, so a new platform's webhooks are timed with no change here.
const WEBHOOKS: &str = "/webhooks/";

/// When a request arrived, before its body was read: a webhook's answer time is
/// counted from here, as the platform counts it.
#[derive(Clone, Copy)]
struct Arrived(std::time::Instant);

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    sessions: Family<StateLabels, Gauge>,
    ended: Family<OutcomeLabels, Gauge>,
    events: Gauge,
    follow_ups_pending: Gauge,
    follow_ups_dropped: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("lucid");
        let requests = Family::<RequestLabels, Counter>::default();
        let sessions = Family::<StateLabels, Gauge>::default();
        let ended = Family::<OutcomeLabels, Gauge>::default();
        let events = Gauge::default();
        let follow_ups_pending = Gauge::default();
        let follow_ups_dropped = Gauge::default();
        registry.register(
            "follow_ups_pending",
            "Reactions, acknowledgements and short answers waiting on their platforms",
            follow_ups_pending.clone(),
        );
        registry.register(
            "follow_ups_dropped",
            "Follow-ups dropped since start because too many waited (a platform down)",
            follow_ups_dropped.clone(),
        );
        registry.register("http_requests", "HTTP requests answered", requests.clone());
        registry.register(
            "sessions",
            "Sessions in the store, by state",
            sessions.clone(),
        );
        registry.register(
            "sessions_ended",
            "Finished sessions in the store, by platform and outcome (read at scrape time: every replica reports the same totals)",
            ended.clone(),
        );
        registry.register(
            "events",
            "Events in the store, all sessions",
            events.clone(),
        );
        crate::metrics::register(&mut registry);
        Self {
            registry,
            requests,
            sessions,
            ended,
            events,
            follow_ups_pending,
            follow_ups_dropped,
        }
    }
}

/// Notes when a request arrived (the outermost layer: before its body is read).
pub(super) async fn stamp_arrival(mut request: Request, next: Next) -> Response {
    request
        .extensions_mut()
        .insert(Arrived(std::time::Instant::now()));
    next.run(request).await
}

/// Counts each request under its route template, not its path, so ids do not
/// explode the label set; times the answers to the platforms' webhooks.
pub(super) async fn count_requests(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let method = request.method().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let arrived = request
        .extensions()
        .get::<Arrived>()
        .map_or_else(std::time::Instant::now, |a| a.0);
    let response = next.run(request).await;
    if let Some(platform) = webhook_platform(&route) {
        crate::metrics::webhook_answered(platform, &route, arrived.elapsed());
    }
    state
        .metrics
        .requests
        .get_or_create(&RequestLabels {
            method,
            route,
            status: response.status().as_u16(),
        })
        .inc();
    response
}

/// The platform whose webhook `route` is, if it is one.
fn webhook_platform(route: &str) -> Option<&str> {
    let platform = route.strip_prefix(WEBHOOKS)?.split('/').next()?;
    (!platform.is_empty()).then_some(platform)
}

pub(super) async fn render(State(state): State<AppState>) -> Response {
    let metrics = &state.metrics;
    match state.store.count_ended_by_platform().await {
        Ok(counts) => {
            // Anew each time: a platform with no finished session left shows none.
            metrics.ended.clear();
            for (platform, outcome, n) in counts {
                metrics
                    .ended
                    .get_or_create(&OutcomeLabels {
                        platform,
                        outcome: outcome.as_str(),
                    })
                    .set(i64::try_from(n).unwrap_or(i64::MAX));
            }
        }
        Err(e) => tracing::warn!(error = %e, "metrics: cannot count finished sessions"),
    }
    match state.store.count_sessions_by_state().await {
        Ok(counts) => {
            for (s, n) in counts {
                let n = i64::try_from(n).unwrap_or(i64::MAX);
                metrics
                    .sessions
                    .get_or_create(&StateLabels { state: s.as_str() })
                    .set(n);
            }
        }
        Err(e) => tracing::warn!(error = %e, "metrics: cannot count sessions"),
    }
    match state.store.count_events().await {
        Ok(n) => {
            metrics.events.set(i64::try_from(n).unwrap_or(i64::MAX));
        }
        Err(e) => tracing::warn!(error = %e, "metrics: cannot count events"),
    }
    let (pending, dropped) = crate::background::follow_ups();
    metrics
        .follow_ups_pending
        .set(i64::try_from(pending).unwrap_or(i64::MAX));
    metrics
        .follow_ups_dropped
        .set(i64::try_from(dropped).unwrap_or(i64::MAX));
    let mut text = String::new();
    if let Err(e) = encode(&mut text, &metrics.registry) {
        return super::ApiError::new(
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot encode metrics: {e}"),
        )
        .into_response();
    }
    (
        [(
            CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::webhook_platform;

    #[test]
    fn a_webhook_route_names_its_platform_and_no_other_route_does() {
        assert_eq!(webhook_platform("/webhooks/github"), Some("github"));
        assert_eq!(webhook_platform("/webhooks/slack/events"), Some("slack"));
        assert_eq!(
            webhook_platform("/webhooks/discord/interactions"),
            Some("discord")
        );
        for route in ["/api/v1/sessions", "/webhooks/", "unmatched", "/metrics"] {
            assert_eq!(webhook_platform(route), None, "{route}");
        }
    }
}
