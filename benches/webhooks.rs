//! The inbound GitHub path end to end, against the real `lucid serve` binary and the
//! test suite's fake GitHub: signed `issue_comment` mentions sent open-loop at a fixed
//! rate, each a new session, and then checks that none was lost or doubled (and that a
//! resent delivery changes nothing). A small separate batch measures the time from a
//! webhook to the 👀 reaction on the fake.
//!
//! The load's lucid has no model, so its sessions stay queued: the load measures
//! verify, parse, permission (cached), record and answer, plus the reaction lucid
//! sends afterwards. The time to the first progress comment is measured first, on a
//! lucid of its own that runs sessions: the fake model, and real sandboxes when a
//! Docker engine answers (`DOCKER_HOST`, else the default socket).
//!
//! Run: `cargo bench --bench webhooks` (1000 requests/second for 30 seconds);
//! `BENCH_RATE=200 BENCH_SECONDS=5 cargo bench --bench webhooks` for a quick run.

#[allow(dead_code, unused_imports)]
#[path = "../tests/it/fake_github/mod.rs"]
mod fake_github;

#[allow(dead_code)]
#[path = "../tests/it/fake_llm.rs"]
mod fake_llm;
#[allow(dead_code)]
#[path = "../tests/it/scripted.rs"]
mod scripted;

/// What the fakes take from the test harness.
mod harness {
    /// How long `FakeGithub::wait_until` waits before it gives up.
    pub const DEADLINE: std::time::Duration = std::time::Duration::from_secs(60);

    pub async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
        tokio::time::timeout(DEADLINE, fut)
            .await
            .unwrap_or_else(|_| panic!("timed out after {DEADLINE:?} waiting for {what}"))
    }
}

// Shared by the webhook benchmarks; each uses its own part of it.
#[allow(dead_code)]
mod common;
use common::{
    Answer, Client, Lucid, Usage, env_or, latency_rows, load_rows, open_loop, raise_fd_limit,
    strip_ansi,
};
use fake_github::FakeGithub;
use lucid::github::inbound::sign;
use serde_json::Value;
use sqlx::Connection;
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

const REPO: &str = "acme/app";
const AUTHOR: &str = "ada";
const BOT: &str = "lucid";
const SECRET: &str = "bench-webhook-secret";
const TOKEN: &str = "ghp_bench_token_0123456789";
const EYES_BATCH: usize = 50;
const EYES_EVERY: Duration = Duration::from_millis(20);
const RESENT: usize = 100;
/// Mentions sent to the lucid that runs sessions, one every `STARTS_EVERY`: spaced so
/// that each finds a free session slot (`LUCID_MAX_SESSIONS`, 4), as the first
/// progress comment is posted when a run starts.
const STARTS: usize = 20;
const STARTS_EVERY: Duration = Duration::from_millis(500);

/// The fake platform and the load generator allocate as much as lucid does; the same
/// allocator keeps the bench's own cost (which shares the machine) down.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    raise_fd_limit();
    let rate: f64 = env_or("BENCH_RATE", 1000.0);
    let seconds: f64 = env_or("BENCH_SECONDS", 30.0);
    assert!(
        rate > 0.0 && seconds > 0.0,
        "BENCH_RATE and BENCH_SECONDS must be > 0"
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    // The fake platform stands in for servers far away: it gets lucid's background
    // priority, so serving lucid's follow-up calls never delays the load generator
    // (whose clock is the measurement) or lucid's answers.
    let far_away = lucid::background::build().unwrap();
    runtime.block_on(run(rate, seconds, far_away.handle().clone()));
}

async fn run(rate: f64, seconds: f64, far_away: tokio::runtime::Handle) {
    let fake = Arc::new(
        far_away
            .spawn(async { FakeGithub::start(BOT).await })
            .await
            .unwrap(),
    );
    fake.accept_token(TOKEN);
    fake.add_repo(REPO, &[("README.md", "# app\n")]);
    fake.set_permission(REPO, AUTHOR, "write");

    let client = Client::default();
    let template = Template::load();
    let mut next_issue = 1u64;

    // 0. The first progress comment, on a lucid that runs sessions.
    let (first_comments, sandboxes) =
        first_progress_comments(&fake, &far_away, &client, &template, &mut next_issue).await;

    let dir = tempfile::tempdir().unwrap();
    let mut lucid = Lucid::start(dir.path(), &github_settings(&fake));
    let url = format!("http://{}/webhooks/github", lucid.address);

    // 1. 👀: one mention every 20 ms; first, so the load's reactions are not in the way.
    let eyes = eyes_latency(&fake, &client, &url, &template, &mut next_issue).await;

    // 2. The load, open-loop.
    let total = (rate * seconds).round() as usize;
    let deliveries: Vec<Delivery> = (0..total)
        .map(|i| {
            let issue = next_issue + i as u64;
            let body = format!("@{BOT} fix the flaky test {i}");
            let comment = fake.add_comment(REPO, issue, AUTHOR, &body);
            Delivery::new(&template, issue, comment, &body)
        })
        .collect();
    let deliveries = Arc::new(deliveries);
    let usage = Usage::start(lucid.pid());
    let load = {
        let (client, url, deliveries) = (client.clone(), url.clone(), deliveries.clone());
        open_loop(deliveries.len(), rate, move |i| {
            let (client, url, deliveries) = (client.clone(), url.clone(), deliveries.clone());
            async move { deliveries[i].send(&client, &url).await }
        })
        .await
    };

    // 3. Resend some of them: same delivery id, same body.
    let step = (total / RESENT).max(1);
    let mut resent = 0;
    let mut resent_ok = 0;
    for delivery in deliveries.iter().step_by(step).take(RESENT) {
        let (status, answer) = delivery.send(&client, &url).await.expect("resend failed");
        resent += 1;
        if status == 200 && answer.contains("\"duplicate\":true") {
            resent_ok += 1;
        } else {
            eprintln!("resent delivery answered {status}: {answer}");
        }
    }

    // Every new session gets 👀; wait (a while) for the load's to arrive.
    let expected_sessions = EYES_BATCH + total;
    // The first progress comment's batch had its 👀 too.
    let expected_eyes = STARTS + expected_sessions;
    let settle = Instant::now() + Duration::from_secs(30);
    let mut reacted = count_eyes(&fake);
    while reacted < expected_eyes && Instant::now() < settle {
        tokio::time::sleep(Duration::from_millis(200)).await;
        reacted = count_eyes(&fake);
    }
    // From the load's start to its last follow-up on the fake.
    let spent = usage.since();
    let github_calls = fake.requests();
    let permission_checks = github_calls
        .iter()
        .filter(|r| r.path.contains("/permission"))
        .count();
    let failed_calls = github_calls.iter().filter(|r| r.status >= 400).count();

    // 4. Stop lucid and count what it stored.
    lucid.stop();
    let counts = Counts::read(&dir.path().join("lucid.db")).await;

    let mut latencies = load.latencies.clone();
    latencies.sort();
    println!();
    println!("lucid webhooks: POST /webhooks/github, issue_comment mentions, SQLite");
    println!("{:<40} {:>12}", "figure", "value");
    let row = |name: &str, value: String| println!("{name:<40} {value:>12}");
    row("target rate (req/s)", format!("{rate:.0}"));
    row("requests sent", total.to_string());
    row(
        "achieved send rate (req/s)",
        format!("{:.1}", load.send_rate),
    );
    row(
        "completion rate (req/s)",
        format!("{:.1}", load.completion_rate),
    );
    row("2xx answers", load.ok.to_string());
    row("non-2xx answers", load.not_ok.to_string());
    row("transport errors", load.errors.to_string());
    row("answers without a session", load.no_session.to_string());
    for (name, value) in load_rows(&load, &latencies, &spent, total) {
        row(&name, value);
    }
    row(
        "sessions created (load)",
        format!("{}", counts.sessions as i64 - EYES_BATCH as i64),
    );
    row(
        "sessions / deliveries / threads (all)",
        format!(
            "{}/{}/{}",
            counts.sessions, counts.deliveries, counts.threads
        ),
    );
    row(
        "sessions expected (load + 👀 batch)",
        expected_sessions.to_string(),
    );
    row(
        "duplicates resent (answered duplicate)",
        format!("{resent} ({resent_ok})"),
    );
    row("👀 batch size", EYES_BATCH.to_string());
    for (name, value) in latency_rows("👀 latency", &eyes, &[50, 95]) {
        row(&name, value);
    }
    row(
        "👀 reactions on the fake (all)",
        format!("{reacted}/{expected_eyes}"),
    );
    row("first progress comment batch size", STARTS.to_string());
    row("sessions ran in", sandboxes.to_string());
    for (name, value) in latency_rows("first progress comment", &first_comments, &[50, 95]) {
        row(&name, value);
    }
    row("permission checks to GitHub", permission_checks.to_string());
    row("failed calls to GitHub (4xx/5xx)", failed_calls.to_string());
    row(
        "lucid warn/error log lines",
        lucid.problems().len().to_string(),
    );
    for line in lucid.problems().iter().take(5) {
        println!("  {}", strip_ansi(line));
    }

    let mut failures = Vec::new();
    if load.ok != total {
        failures.push(format!(
            "{} of {total} requests were not 2xx",
            total - load.ok
        ));
    }
    if counts.sessions != expected_sessions
        || counts.deliveries != expected_sessions
        || counts.distinct_deliveries != expected_sessions
        || counts.threads != expected_sessions
    {
        failures.push(format!(
            "expected {expected_sessions} sessions, deliveries and threads, found {counts:?}"
        ));
    }
    if resent_ok != resent {
        failures.push(format!(
            "{} of {resent} resent deliveries were not answered as duplicates",
            resent - resent_ok
        ));
    }
    if !failures.is_empty() {
        panic!(
            "the benchmark's checks failed:\n  {}",
            failures.join("\n  ")
        );
    }
    println!("checks: every answer 2xx, no session lost or doubled, resends changed nothing");
}

/// Sends `EYES_BATCH` mentions, one every `EYES_EVERY`, and returns the sorted times
/// from each send to its 👀 appearing on the fake.
async fn eyes_latency(
    fake: &Arc<FakeGithub>,
    client: &Client,
    url: &str,
    template: &Template,
    next_issue: &mut u64,
) -> Vec<Duration> {
    let deliveries: Vec<Delivery> = (0..EYES_BATCH)
        .map(|i| {
            let issue = *next_issue + i as u64;
            let body = format!("@{BOT} fix the flaky test {i}");
            let comment = fake.add_comment(REPO, issue, AUTHOR, &body);
            Delivery::new(template, issue, comment, &body)
        })
        .collect();
    *next_issue += EYES_BATCH as u64;
    let batch: std::collections::HashSet<u64> = deliveries.iter().map(|d| d.comment).collect();
    let deliveries = deliveries.into_iter().map(|d| (d.comment, d)).collect();
    let (sender, sent) = send_paced(client, url, deliveries, EYES_EVERY, "a 👀 batch request");
    let seen: Mutex<HashMap<u64, Instant>> = Mutex::default();
    fake.wait_until("👀 on every comment of the batch", |fake| {
        let now = Instant::now();
        let mut seen = seen.lock().unwrap();
        for reaction in fake.reactions() {
            if reaction.content == "eyes" && batch.contains(&reaction.comment_id) {
                seen.entry(reaction.comment_id).or_insert(now);
            }
        }
        (seen.len() >= EYES_BATCH).then_some(())
    })
    .await;
    sender.await.unwrap();
    latencies_from_send(&sent, seen)
}

/// The recorded `issue_comment` `created` payload, pointed at the fake's repository.
struct Template(Value);

impl Template {
    fn load() -> Template {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/github/issue_comment.created.payload.json"
        );
        let mut v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let (owner, name) = REPO.split_once('/').unwrap();
        v["repository"]["full_name"] = REPO.into();
        v["repository"]["name"] = name.into();
        v["repository"]["owner"]["login"] = owner.into();
        v["comment"]["user"]["login"] = AUTHOR.into();
        v["comment"]["user"]["type"] = "User".into();
        v["sender"]["login"] = AUTHOR.into();
        Template(v)
    }
}

/// One signed delivery, ready to send (and to resend as is).
/// When each delivery went out, by the key its effect is looked for under.
type SentAt = Arc<Mutex<HashMap<u64, Instant>>>;

/// Sends `deliveries` one every `every` from a task of its own, so that what they
/// cause is seen as it comes; the task fails if an answer is not 2xx.
fn send_paced(
    client: &Client,
    url: &str,
    deliveries: Vec<(u64, Delivery)>,
    every: Duration,
    what: &'static str,
) -> (tokio::task::JoinHandle<()>, SentAt) {
    let sent = SentAt::default();
    let (client, url, sent_at) = (client.clone(), url.to_owned(), sent.clone());
    let sender = tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        let mut answers = Vec::new();
        for (key, delivery) in deliveries {
            tick.tick().await;
            sent_at.lock().unwrap().insert(key, Instant::now());
            let (client, url) = (client.clone(), url.clone());
            answers.push(tokio::spawn(
                async move { delivery.send(&client, &url).await },
            ));
        }
        for answer in answers {
            let (status, body) = answer
                .await
                .unwrap()
                .unwrap_or_else(|e| panic!("{what} failed: {e}"));
            assert!(status.is_success(), "{what} got {status}: {body}");
        }
    });
    (sender, sent)
}

/// From each delivery's send to when its effect was seen, sorted.
fn latencies_from_send(sent: &SentAt, seen: Mutex<HashMap<u64, Instant>>) -> Vec<Duration> {
    let sent = sent.lock().unwrap();
    let mut latencies: Vec<Duration> = seen
        .into_inner()
        .unwrap()
        .iter()
        .map(|(key, at)| at.saturating_duration_since(sent[key]))
        .collect();
    latencies.sort();
    latencies
}

struct Delivery {
    id: String,
    comment: u64,
    body: bytes::Bytes,
    signature: String,
}

impl Delivery {
    fn new(template: &Template, issue: u64, comment: u64, text: &str) -> Delivery {
        let mut v = template.0.clone();
        v["issue"]["number"] = issue.into();
        v["comment"]["id"] = comment.into();
        v["comment"]["body"] = text.into();
        let body = serde_json::to_vec(&v).unwrap();
        Delivery {
            id: uuid::Uuid::now_v7().to_string(),
            comment,
            signature: sign(SECRET, &body),
            body: body.into(),
        }
    }

    async fn send(&self, client: &Client, url: &str) -> Answer {
        let headers = [
            ("Content-Type", "application/json"),
            ("X-GitHub-Event", "issue_comment"),
            ("X-GitHub-Delivery", self.id.as_str()),
            ("X-Hub-Signature-256", self.signature.as_str()),
        ];
        client.post(url, &headers, self.body.clone()).await
    }
}

/// lucid's GitHub settings against the fake.
fn github_settings(fake: &FakeGithub) -> Vec<(&'static str, String)> {
    vec![
        ("LUCID_GITHUB_WEBHOOK_SECRETS", SECRET.to_owned()),
        ("LUCID_GITHUB_TOKEN", TOKEN.to_owned()),
        ("LUCID_GITHUB_API_URL", fake.origin.clone()),
        ("LUCID_GITHUB_BOT_LOGIN", BOT.to_owned()),
    ]
}

/// Sends `STARTS` mentions, one every `STARTS_EVERY`, to a lucid of its own that runs
/// sessions (the fake model; real sandboxes when a Docker engine answers), and
/// returns the sorted times from each send to the first comment lucid posts on its
/// issue (the progress comment, posted when the run starts), and what the sessions
/// ran in.
async fn first_progress_comments(
    fake: &Arc<FakeGithub>,
    far_away: &tokio::runtime::Handle,
    client: &Client,
    template: &Template,
    next_issue: &mut u64,
) -> (Vec<Duration>, &'static str) {
    // A text answer ends the agent's run: the session finishes with nothing to change.
    let replies = (0..3 * STARTS)
        .map(|_| fake_llm::Reply::text("Nothing to change here.", 10, 5))
        .collect();
    let llm = far_away
        .spawn(async { fake_llm::FakeLlm::start(replies).await })
        .await
        .unwrap();
    let docker =
        std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".to_owned());
    let engine_answers = match lucid::sandbox::DockerEngine::new(&docker) {
        Ok(engine) => engine.probe().await.is_ok(),
        Err(_) => false,
    };
    let mut settings = github_settings(fake);
    settings.extend([
        ("LUCID_LLM_BASE_URL", llm.base_url.clone()),
        ("LUCID_LLM_API_KEY", "sk-bench-model-key".to_owned()),
        ("LUCID_LLM_MODEL", "fake-model".to_owned()),
    ]);
    if engine_answers {
        settings.push(("DOCKER_HOST", docker));
    }
    let dir = tempfile::tempdir().unwrap();
    let mut lucid = Lucid::start(dir.path(), &settings);
    let url = format!("http://{}/webhooks/github", lucid.address);

    let issues: Vec<u64> = (0..STARTS as u64).map(|i| *next_issue + i).collect();
    *next_issue += STARTS as u64;
    let deliveries: Vec<(u64, Delivery)> = issues
        .iter()
        .map(|&issue| {
            let body = format!("@{BOT} fix the flaky test on issue {issue}");
            let comment = fake.add_comment(REPO, issue, AUTHOR, &body);
            (issue, Delivery::new(template, issue, comment, &body))
        })
        .collect();
    let (sender, sent) = send_paced(
        client,
        &url,
        deliveries,
        STARTS_EVERY,
        "a session batch request",
    );
    let seen: Mutex<HashMap<u64, Instant>> = Mutex::default();
    fake.wait_until("a progress comment on every issue of the batch", |fake| {
        let now = Instant::now();
        let mut seen = seen.lock().unwrap();
        for &issue in &issues {
            if !seen.contains_key(&issue)
                && fake.comments(REPO, issue).iter().any(|c| c.author == BOT)
            {
                seen.insert(issue, now);
            }
        }
        (seen.len() == issues.len()).then_some(())
    })
    .await;
    sender.await.unwrap();
    lucid.stop();
    let latencies = latencies_from_send(&sent, seen);
    let ran_in = if engine_answers {
        "Docker sandboxes"
    } else {
        "no Docker engine"
    };
    (latencies, ran_in)
}

fn count_eyes(fake: &FakeGithub) -> usize {
    fake.reactions()
        .iter()
        .filter(|r| r.content == "eyes")
        .count()
}

#[derive(Debug)]
struct Counts {
    sessions: usize,
    deliveries: usize,
    distinct_deliveries: usize,
    threads: usize,
}

impl Counts {
    async fn read(db: &Path) -> Counts {
        let url = format!("sqlite://{}", db.display());
        let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
        let mut counts = Vec::new();
        for sql in [
            "SELECT COUNT(*) FROM sessions",
            "SELECT COUNT(*) FROM deliveries",
            "SELECT COUNT(DISTINCT delivery_id) FROM sessions",
            "SELECT COUNT(DISTINCT thread) FROM sessions",
        ] {
            let n: i64 = sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap();
            counts.push(n as usize);
        }
        Counts {
            sessions: counts[0],
            deliveries: counts[1],
            distinct_deliveries: counts[2],
            threads: counts[3],
        }
    }
}
