//! lucid's own measurements, kept process-wide so that the parts that make them (the
//! worker, the platform clients, the sandboxes, the agents) call one function each
//! instead of carrying a handle. `/metrics` (`http::metrics`) registers these series
//! beside the ones it reads from the store at scrape time, and encodes them all.
//!
//! Every label is bounded: platforms and routes by the registry, outcomes by the
//! session's states, models by configuration (and, for what an external agent's
//! provider names, by [`models::Models`]). No session, person or message id is ever
//! a label.
//!
//! `core` does not use this module: the domain stays free of it.

mod buckets;
pub mod models;
mod sessions;

pub use sessions::session_ended;

use crate::core::{Platform, Timestamp};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::sync::LazyLock;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PlatformLabel {
    platform: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WebhookLabels {
    platform: String,
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    platform: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StartLabel {
    /// `warm` (taken from the pool) or `cold` (a container started for the session).
    start: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TokenLabels {
    model: String,
    /// `input` or `output`.
    direction: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ModelLabel {
    model: String,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

/// Every series this module keeps.
struct Series {
    webhook_answer: Histograms<WebhookLabels>,
    first_message: Histograms<PlatformLabel>,
    session_duration: Histograms<OutcomeLabels>,
    sandbox_start: Histograms<StartLabel>,
    sandbox_pool_ready: Gauge,
    tokens: Family<TokenLabels, Counter>,
    cost: Family<ModelLabel, Counter<f64, AtomicU64>>,
    retries: Family<PlatformLabel, Counter>,
    rate_limited: Family<PlatformLabel, Counter>,
    pending: Family<PlatformLabel, Gauge>,
}

static SERIES: LazyLock<Series> = LazyLock::new(|| Series {
    webhook_answer: Family::new_with_constructor(buckets::webhook_answer),
    first_message: Family::new_with_constructor(buckets::first_message),
    session_duration: Family::new_with_constructor(buckets::session_duration),
    sandbox_start: Family::new_with_constructor(buckets::sandbox_start),
    sandbox_pool_ready: Gauge::default(),
    tokens: Family::default(),
    cost: Family::default(),
    retries: Family::default(),
    rate_limited: Family::default(),
    pending: Family::default(),
});

/// Adds this module's series to `registry` (they are shared: every registry they are
/// added to shows the same values).
pub fn register(registry: &mut Registry) {
    let s = &*SERIES;
    registry.register(
        "webhook_answer_seconds",
        "Time from a platform's webhook request arriving to lucid's answer, by platform and route",
        s.webhook_answer.clone(),
    );
    registry.register(
        "first_thread_message_seconds",
        "Time from a request for a new session arriving to lucid's first message in its thread (the acknowledgement or status message), by platform",
        s.first_message.clone(),
    );
    registry.register(
        "session_duration_seconds",
        "Runs of sessions, from a worker taking them to their end, by platform and outcome",
        s.session_duration.clone(),
    );
    registry.register(
        "sandbox_start_seconds",
        "Time to hand a session its sandbox, by start: warm (from the pool) or cold",
        s.sandbox_start.clone(),
    );
    registry.register(
        "sandbox_pool_ready",
        "Warm sandboxes ready in this process's pool",
        s.sandbox_pool_ready.clone(),
    );
    registry.register(
        "model_tokens",
        "Tokens the agents' models took in and gave out, by model and direction",
        s.tokens.clone(),
    );
    registry.register(
        "model_cost_dollars",
        "What the agents' models cost at the configured prices, in US dollars, by model",
        s.cost.clone(),
    );
    registry.register(
        "outbound_retries",
        "Calls to a platform's API made again (after a 429, a 5xx or a failed connection), by platform",
        s.retries.clone(),
    );
    registry.register(
        "outbound_rate_limited",
        "Answers of a platform's API that asked lucid to slow down (429, Notion's 529, GitHub's 403 that says its rate limit is spent; Discord's limiter also counts its waits for a spent bucket), by platform",
        s.rate_limited.clone(),
    );
    registry.register(
        "outbound_pending",
        "Writes to a platform's threads started or queued and not yet done (acknowledgements, answers, status messages, replies), by platform",
        s.pending.clone(),
    );
}

/// A webhook on `route` of `platform` was answered `took` after it arrived.
pub fn webhook_answered(platform: &str, route: &str, took: Duration) {
    SERIES
        .webhook_answer
        .get_or_create(&WebhookLabels {
            platform: platform.to_owned(),
            route: route.to_owned(),
        })
        .observe(took.as_secs_f64());
}

/// lucid's first message in the thread of a session asked for at `asked_at` was
/// posted just now.
pub fn first_thread_message(platform: &Platform, asked_at: Timestamp) {
    let millis = (Timestamp::now().as_millis() - asked_at.as_millis()).max(0);
    SERIES
        .first_message
        .get_or_create(&platform_label(platform.as_str()))
        .observe(millis as f64 / 1000.0);
}

/// A session was handed its sandbox `took` after asking; `warm`: from the pool.
pub fn sandbox_started(warm: bool, took: Duration) {
    let start = if warm { "warm" } else { "cold" };
    SERIES
        .sandbox_start
        .get_or_create(&StartLabel { start })
        .observe(took.as_secs_f64());
}

/// How many warm sandboxes the pool holds now.
pub fn sandbox_pool_ready(ready: usize) {
    SERIES
        .sandbox_pool_ready
        .set(i64::try_from(ready).unwrap_or(i64::MAX));
}

/// One answer of `model` (None: it did not say) took `input` tokens and gave
/// `output`, costing `cost_micros` millionths of a dollar.
pub fn model_spent(model: Option<&str>, input: u64, output: u64, cost_micros: u64) {
    let model = models::MODELS.label(model);
    for (direction, n) in [("input", input), ("output", output)] {
        SERIES
            .tokens
            .get_or_create(&TokenLabels {
                model: model.clone(),
                direction,
            })
            .inc_by(n);
    }
    SERIES
        .cost
        .get_or_create(&ModelLabel { model })
        .inc_by(cost_micros as f64 / 1_000_000.0);
}

/// A call to `platform`'s API is made again.
pub fn outbound_retry(platform: &Platform) {
    SERIES
        .retries
        .get_or_create(&platform_label(platform.as_str()))
        .inc();
}

/// `platform`'s API asked lucid to slow down.
pub fn outbound_rate_limited(platform: &Platform) {
    SERIES
        .rate_limited
        .get_or_create(&platform_label(platform.as_str()))
        .inc();
}

/// A write to `platform`'s threads under way or queued, counted in
/// `lucid_outbound_pending` until it is dropped.
#[must_use = "the write counts as pending only while this is held"]
pub struct Pending(Gauge);

impl Pending {
    pub fn on(platform: &Platform) -> Pending {
        let gauge = SERIES
            .pending
            .get_or_create(&platform_label(platform.as_str()))
            .clone();
        gauge.inc();
        Pending(gauge)
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        self.0.dec();
    }
}

fn platform_label(platform: &str) -> PlatformLabel {
    PlatformLabel {
        platform: platform.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded() -> String {
        let mut registry = Registry::with_prefix("lucid");
        register(&mut registry);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        text
    }

    #[test]
    fn a_pending_write_counts_until_it_is_dropped() {
        let platform = Platform::known("metrics-unit-test");
        let line = |n: i64| format!("lucid_outbound_pending{{platform=\"metrics-unit-test\"}} {n}");
        let pending = Pending::on(&platform);
        let second = Pending::on(&platform);
        assert!(encoded().contains(&line(2)), "{}", encoded());
        drop((pending, second));
        assert!(encoded().contains(&line(0)), "{}", encoded());
    }

    #[test]
    fn tokens_and_cost_are_counted_by_model_and_direction() {
        model_spent(Some("unit-test-model"), 1200, 300, 2_500);
        let text = encoded();
        for line in [
            "lucid_model_tokens_total{model=\"unit-test-model\",direction=\"input\"} 1200",
            "lucid_model_tokens_total{model=\"unit-test-model\",direction=\"output\"} 300",
            "lucid_model_cost_dollars_total{model=\"unit-test-model\"} 0.0025",
        ] {
            assert!(text.contains(line), "{line} is not in {text}");
        }
    }
}
