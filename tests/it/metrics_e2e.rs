//! `/metrics` after a real session: the real `lucid serve` with a warm pool, a Slack
//! mention through the fake Slack (its first write answered 429), the fake model and
//! the real Docker sandbox; then every new series is scraped with the labels it must
//! have. And the Grafana dashboard queries only series lucid exposes, so the two
//! cannot drift apart.

use crate::harness::within;
use crate::rig::{ADA, BOT_USER, CHANNEL, Lucid, fixing_script, slack_message};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

const DASHBOARD: &str = include_str!("../../manifests/grafana-dashboard.json");

/// One sample of the text format: `name{label="value",…} value`.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

fn parse(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').expect("a sample has a value");
            let (name, labels) = match series.split_once('{') {
                Some((name, labels)) => (name, labels.trim_end_matches('}')),
                None => (series, ""),
            };
            let labels = labels
                .split("\",")
                .filter(|pair| !pair.is_empty())
                .map(|pair| {
                    let (key, value) = pair.split_once('=').expect("label=\"value\"");
                    (key.to_owned(), value.trim_matches('"').to_owned())
                })
                .collect();
            Sample {
                name: name.to_owned(),
                labels,
                value: value.parse().expect("a number"),
            }
        })
        .collect()
}

/// The sum of the samples named `name` that carry all of `labels`.
fn total(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|s| s.name == name)
        .filter(|s| {
            labels
                .iter()
                .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.value)
        .sum()
}

async fn scrape(url: &str) -> String {
    let response = within("/metrics", reqwest::get(format!("{url}/metrics")))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.text().await.unwrap()
}

/// Scrapes until `ready` holds of the samples (within the test deadline).
async fn scrape_until(url: &str, what: &str, ready: impl Fn(&[Sample]) -> bool) -> Vec<Sample> {
    within(what, async {
        loop {
            let samples = parse(&scrape(url).await);
            if ready(&samples) {
                return samples;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
}

/// Every PromQL expression the dashboard's panels hold.
fn dashboard_exprs() -> Vec<String> {
    let dashboard: Value = serde_json::from_str(DASHBOARD).expect("the dashboard is JSON");
    let mut exprs = Vec::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().into_iter().flatten() {
            exprs.push(target["expr"].as_str().expect("an expr").to_owned());
        }
    }
    exprs
}

/// The series names an expression reads (`lucid_…`, as they are sampled).
fn series_in(expr: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = expr;
    while let Some(at) = rest.find("lucid_") {
        let name: String = rest[at..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        rest = &rest[at + name.len()..];
        names.insert(name);
    }
    names
}

/// The labels an expression groups by (`by (a, b)`), `le` aside.
fn grouped_by(expr: &str) -> BTreeSet<String> {
    expr.match_indices("by (")
        .flat_map(|(at, _)| {
            let inside = &expr[at + 4..];
            inside[..inside.find(')').unwrap()]
                .split(',')
                .map(|l| l.trim().to_owned())
                .collect::<Vec<_>>()
        })
        .filter(|label| label != "le")
        .collect()
}

/// Every dashboard series has samples in `samples`, with the labels it groups by.
fn assert_dashboard_is_served(samples: &[Sample]) {
    for expr in dashboard_exprs() {
        let names = series_in(&expr);
        assert!(!names.is_empty(), "{expr} reads no lucid series");
        for name in &names {
            assert!(
                samples.iter().any(|s| &s.name == name),
                "the dashboard reads {name} ({expr}), which /metrics does not show"
            );
        }
        for label in grouped_by(&expr) {
            assert!(
                samples
                    .iter()
                    .any(|s| names.contains(&s.name) && s.labels.contains_key(&label)),
                "the dashboard groups by {label} ({expr}), which no sample of it carries"
            );
        }
    }
}

#[test]
fn the_dashboard_is_grafana_json_with_a_prometheus_datasource_variable() {
    let dashboard: Value = serde_json::from_str(DASHBOARD).unwrap();
    assert!(dashboard["schemaVersion"].as_u64().unwrap() >= 39);
    let variables = dashboard["templating"]["list"].as_array().unwrap();
    assert!(
        variables.iter().any(|v| v["type"] == "datasource"
            && v["query"] == "prometheus"
            && v["name"] == "datasource"),
        "{variables:#?}"
    );
    for panel in dashboard["panels"].as_array().unwrap() {
        if panel["type"] != "row" {
            assert_eq!(panel["datasource"]["uid"], "${datasource}", "{panel:#}");
            assert!(panel["targets"].as_array().is_some_and(|t| !t.is_empty()));
        }
    }
    // A panel for each histogram's quantiles and for each counter's rate.
    let exprs = dashboard_exprs().join("\n");
    for histogram in [
        "lucid_webhook_answer_seconds",
        "lucid_first_thread_message_seconds",
        "lucid_session_duration_seconds",
        "lucid_sandbox_start_seconds",
    ] {
        for q in ["0.5", "0.95"] {
            let quantile = format!("histogram_quantile({q}, sum by (le");
            assert!(
                exprs
                    .lines()
                    .any(|e| e.starts_with(&quantile) && e.contains(&format!("{histogram}_bucket"))),
                "no p{q} of {histogram}"
            );
        }
    }
    for counter in [
        "lucid_model_tokens_total",
        "lucid_model_cost_dollars_total",
        "lucid_outbound_retries_total",
        "lucid_outbound_rate_limited_total",
    ] {
        assert!(
            exprs.contains(&format!("rate({counter}[")),
            "no rate of {counter}"
        );
    }
}

/// What `/metrics` shows after one Slack session through the real `lucid serve`: a
/// warm sandbox, Slack's first answer a 429, a GitHub ping besides; answers lucid
/// (still running), the scrape and the session's id.
async fn scraped_after_a_slack_session() -> (Lucid, Vec<Sample>, String) {
    let lucid = Lucid::start_setting(
        fixing_script(),
        &[
            ("LUCID_SANDBOX_POOL_SIZE", "1"),
            ("LUCID_LLM_PRICE_INPUT", "3"),
            ("LUCID_LLM_PRICE_OUTPUT", "15"),
        ],
    )
    .await;
    let url = lucid.url.clone();
    // The session is to start warm: the pool holds its sandbox first.
    scrape_until(&url, "a warm sandbox", |s| {
        total(s, "lucid_sandbox_pool_ready", &[]) >= 1.0
    })
    .await;
    // Slack's first answer to lucid is a 429: the call is made again after it.
    lucid.slack.rate_limit_next(1, 1);
    // A GitHub delivery lucid has no use for is answered (and timed) all the same.
    let ping = include_str!("../data/github/ping.payload.json");
    let (status, _) = lucid
        .deliver(
            "ping",
            "metrics-ping-1",
            &serde_json::from_str(ping).unwrap(),
        )
        .await;
    assert!((200..300).contains(&status), "{status}");

    let ts = "1700000201.000100";
    let text = format!("<@{BOT_USER}> please fix add()");
    let mention = slack_message("app_mention", CHANNEL, ADA, ts, None, &text);
    let (status, answer) = lucid.slack_event(&mention, None).await;
    assert_eq!(status, 200, "{answer}");
    let id = answer["session"].as_str().unwrap().to_owned();
    lucid
        .until_session(&id, "the session to finish", |s| s["state"] == "completed")
        .await;
    lucid
        .slack
        .wait_until("the last reply", |s| {
            s.thread(CHANNEL, ts)
                .iter()
                .any(|m| m.text.contains("*Done.*"))
                .then_some(())
        })
        .await;
    assert!(
        lucid.slack.unexpected().is_empty(),
        "{:#?}",
        lucid.slack.unexpected()
    );
    // Once the thread is written, nothing is left pending (and the series is there).
    let samples = scrape_until(&url, "the thread's writes to settle", |s| {
        s.iter().any(|s| s.name == "lucid_outbound_pending")
            && total(s, "lucid_outbound_pending", &[("platform", "slack")]) == 0.0
    })
    .await;
    (lucid, samples, id)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_slack_session_shows_in_every_new_series() {
    let (_lucid, samples, id) = scraped_after_a_slack_session().await;
    let count = |name: &str, labels: &[(&str, &str)]| total(&samples, name, labels);
    let slack = ("platform", "slack");
    assert!(
        count(
            "lucid_webhook_answer_seconds_count",
            &[slack, ("route", "/webhooks/slack/events")]
        ) >= 1.0
    );
    assert!(
        count(
            "lucid_webhook_answer_seconds_count",
            &[("platform", "github"), ("route", "/webhooks/github")]
        ) >= 1.0
    );
    // Answers within Slack's 3 s, as the bucket at the deadline says.
    let answered = count("lucid_webhook_answer_seconds_count", &[slack]);
    assert_eq!(
        count(
            "lucid_webhook_answer_seconds_bucket",
            &[slack, ("le", "3.0")]
        ),
        answered
    );
    // One session, one first message (the status message, after the 429).
    assert_eq!(
        count("lucid_first_thread_message_seconds_count", &[slack]),
        1.0
    );
    // Counted from the mention: the 429's Retry-After (1 s) is in it.
    assert!(count("lucid_first_thread_message_seconds_sum", &[slack]) >= 1.0);
    let done = [slack, ("outcome", "completed")];
    assert_eq!(count("lucid_sessions_ended", &done), 1.0);
    assert_eq!(count("lucid_session_duration_seconds_count", &done), 1.0);
    assert!(count("lucid_session_duration_seconds_sum", &done) > 0.0);
    assert_eq!(
        count("lucid_sandbox_start_seconds_count", &[("start", "warm")]),
        1.0
    );
    assert_eq!(
        count("lucid_sandbox_start_seconds_count", &[("start", "cold")]),
        0.0
    );
    let model = ("model", "fake-model");
    assert!(count("lucid_model_tokens_total", &[model, ("direction", "input")]) > 0.0);
    assert!(
        count(
            "lucid_model_tokens_total",
            &[model, ("direction", "output")]
        ) > 0.0
    );
    assert!(count("lucid_model_cost_dollars_total", &[model]) > 0.0);
    assert!(count("lucid_outbound_rate_limited_total", &[slack]) >= 1.0);
    assert!(count("lucid_outbound_retries_total", &[slack]) >= 1.0);
    // No session or person is ever a label.
    for sample in &samples {
        for value in sample.labels.values() {
            assert!(!value.contains(&id) && value != ADA, "{sample:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_series_the_dashboard_queries_is_in_lucids_metrics() {
    let (_lucid, samples, _) = scraped_after_a_slack_session().await;
    assert_dashboard_is_served(&samples);
}

/// GitHub's client retries inside octocrab; each retry and each 429 is counted for
/// `github` all the same. GitHub answers lucid's permission check with a 429, then a
/// 502; octocrab asks a third time and the session goes on.
#[tokio::test(flavor = "multi_thread")]
async fn githubs_429s_and_retries_are_counted() {
    use crate::rig::{REPO, comment_payload};
    let lucid = Lucid::start(fixing_script()).await;
    let gh = &lucid.github;
    let asked = "@lucid please fix add()";
    let comment = gh.add_comment(REPO, 7, "ada", asked);
    let permission = format!("/repos/{REPO}/collaborators/ada/permission");
    let slow_down = serde_json::json!({"message": "You have exceeded a secondary rate limit."});
    gh.fail_next("GET", &permission, 429, slow_down);
    let bad_gateway = serde_json::json!({"message": "Server Error"});
    gh.fail_next("GET", &permission, 502, bad_gateway);
    let payload = comment_payload(7, "add() subtracts", comment, "ada", asked);
    let (status, answer) = lucid
        .deliver("issue_comment", "metrics-gh-1", &payload)
        .await;
    assert_eq!(status, 202, "{answer}");
    let id = answer["session"].as_str().unwrap().to_owned();
    lucid
        .until_session(&id, "the session to finish", |s| s["state"] == "completed")
        .await;
    let answered: Vec<u16> = gh
        .requests()
        .iter()
        .filter(|r| r.path == permission)
        .map(|r| r.status)
        .collect();
    assert_eq!(
        answered.get(..3),
        Some(&[429, 502, 200][..]),
        "{answered:?}"
    );
    let github = ("platform", "github");
    let samples = scrape_until(&lucid.url, "GitHub's retries to be counted", |s| {
        total(s, "lucid_outbound_retries_total", &[github]) >= 2.0
    })
    .await;
    assert!(total(&samples, "lucid_outbound_rate_limited_total", &[github]) >= 1.0);
    assert_eq!(gh.pulls(REPO).len(), 1);
}
