//! The inbound Slack path end to end, against the real `lucid serve` binary and the
//! test suite's fake Slack Web API: signed `app_mention` events (Events API
//! `event_callback`s) sent open-loop at a fixed rate to `POST /webhooks/slack/events`,
//! each a new session, and then checks that none was lost or doubled: every mention
//! answered 2xx with a session, one session, delivery and thread each in the store, one
//! acknowledgement (the session's status message) in each mention's thread on the fake,
//! and a resent event (`X-Slack-Retry-Num: 1`) answered as a duplicate, changing
//! nothing. It reports the time to the 2xx and the time to the thread's
//! acknowledgement: for a small separate batch sent while lucid is otherwise idle, and
//! for every mention of the load.
//!
//! No model is configured, so sessions stay queued: this measures verify, parse,
//! record and answer, plus the acknowledgement lucid posts afterwards
//! (`chat.postMessage` in the mention's thread). Every channel's default repository is
//! `acme/app` (`LUCID_SLACK_CHANNEL_REPOS=*=acme/app`), so every mention starts a
//! session rather than asking which repository.
//!
//! lucid posts at most one message per second per channel, as Slack requires, so the
//! mentions are spread over `BENCH_CHANNELS` channels (default: twice the rate, so each
//! channel gets a mention every two seconds and the acknowledgements are never held
//! back by that pacing; with fewer channels than the rate, the load's acknowledgements
//! fall behind by design and their latency measures the pacing).
//!
//! Run: `cargo bench --bench slack_webhooks` (1000 requests/second for 30 seconds);
//! `BENCH_RATE=200 BENCH_SECONDS=5 cargo bench --bench slack_webhooks` for a quick run.

#[allow(dead_code, unused_imports)]
#[path = "../tests/it/fake_slack/mod.rs"]
mod fake_slack;

/// What the fake takes from the test harness.
mod harness {
    /// How long `FakeSlack::wait_until` waits before it gives up.
    pub const DEADLINE: std::time::Duration = std::time::Duration::from_secs(60);
}

// Shared by the webhook benchmarks; each uses its own part of it.
#[allow(dead_code)]
mod common;
use common::{
    Answer, Client, Load, Lucid, Usage, env_or, latency_rows, load_rows, open_loop, raise_fd_limit,
    strip_ansi,
};
use fake_slack::FakeSlack;
use lucid::slack::inbound::{
    RETRY_NUM_HEADER, RETRY_REASON_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, sign,
};
use serde_json::{Value, json};
use sqlx::Connection;
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

const REPO: &str = "acme/app";
/// The fake's workspace and bot user (`SlackIdentity::default()`).
const TEAM: &str = "T0001";
const BOT_USER: &str = "U0LUCID";
/// Who mentions lucid.
const AUTHOR: &str = "U0ADA";
const SECRET: &str = "bench-slack-signing-secret";
const TOKEN: &str = "xoxb-bench-0123456789";
const ACK_BATCH: usize = 50;
const ACK_EVERY: Duration = Duration::from_millis(20);
const RESENT: usize = 100;
/// How long the load's acknowledgements may take to arrive after the last answer.
const ACK_SETTLE: Duration = Duration::from_secs(60);

/// The fake platform and the load generator allocate as much as lucid does; the same
/// allocator keeps the bench's own cost (which shares the machine) down.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    raise_fd_limit();
    let rate: f64 = env_or("BENCH_RATE", 1000.0);
    let seconds: f64 = env_or("BENCH_SECONDS", 30.0);
    let channels = env_or("BENCH_CHANNELS", (2.0 * rate).ceil()) as usize;
    assert!(
        rate > 0.0 && seconds > 0.0 && channels > 0,
        "BENCH_RATE, BENCH_SECONDS and BENCH_CHANNELS must be > 0"
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    // The fake platform stands in for servers far away: it gets lucid's background
    // priority, so serving lucid's follow-up calls never delays the load generator
    // (whose clock is the measurement) or lucid's answers.
    let far_away = lucid::background::build().unwrap();
    runtime.block_on(run(rate, seconds, channels, far_away.handle().clone()));
}

async fn run(rate: f64, seconds: f64, channels: usize, far_away: tokio::runtime::Handle) {
    let fake = Arc::new(
        far_away
            .spawn(async { FakeSlack::start(TOKEN).await })
            .await
            .unwrap(),
    );
    fake.add_user(AUTHOR, "ada", "Ada Lovelace", "Ada");
    let dir = tempfile::tempdir().unwrap();
    let mut lucid = Lucid::start(
        dir.path(),
        &[
            ("LUCID_SLACK_SIGNING_SECRET", SECRET.to_owned()),
            ("LUCID_SLACK_BOT_TOKEN", TOKEN.to_owned()),
            ("LUCID_SLACK_TEAMS", TEAM.to_owned()),
            ("LUCID_SLACK_API_URL", fake.api_url.clone()),
            ("LUCID_SLACK_CHANNEL_REPOS", format!("*={REPO}")),
        ],
    );
    let url = format!("http://{}/webhooks/slack/events", lucid.address);
    let client = Client::default();
    let template = Template::load();
    // Numbers every mention, so each has its own event_id and ts.
    let mut next_event = 0usize;

    // 1. Acknowledgements: one mention every 20 ms, each in a channel of its own; first,
    //    so the load's acknowledgements are not in the way.
    let (acks, batch_threads) = ack_latency(&fake, &client, &url, &template, &mut next_event).await;

    // 2. The load, open-loop, spread over `channels` channels.
    let total = (rate * seconds).round() as usize;
    let mentions: Vec<Mention> = (0..total)
        .map(|i| {
            let channel = format!("CLOAD{:05}", i % channels);
            Mention::new(&template, next_event + i, &channel)
        })
        .collect();
    next_event += total;
    let mentions = Arc::new(mentions);
    let usage = Usage::start(lucid.pid());
    let load = {
        let (client, url, mentions) = (client.clone(), url.clone(), mentions.clone());
        open_loop(mentions.len(), rate, move |i| {
            let (client, url, mentions) = (client.clone(), url.clone(), mentions.clone());
            async move { mentions[i].send(&client, &url, None).await }
        })
        .await
    };

    // 3. Resend some of them, as Slack does when an answer is late: same body (and
    //    event_id), signed again, with the retry headers.
    let step = (total / RESENT).max(1);
    let mut resent = 0;
    let mut resent_ok = 0;
    for mention in mentions.iter().step_by(step).take(RESENT) {
        let (status, answer) = mention
            .send(&client, &url, Some(1))
            .await
            .expect("resend failed");
        resent += 1;
        if status == 200 && answer.contains("\"duplicate\":true") {
            resent_ok += 1;
        } else {
            eprintln!("a resent event answered {status}: {answer}");
        }
    }

    // Every new session is acknowledged in its thread; wait (a while) for the load's.
    let expected_sessions = next_event;
    let settle = Instant::now() + ACK_SETTLE;
    let mut replies = count_replies(&fake);
    while replies < expected_sessions && Instant::now() < settle {
        tokio::time::sleep(Duration::from_millis(500)).await;
        replies = count_replies(&fake);
    }
    // From the load's start to its last follow-up on the fake.
    let spent = usage.since();
    let threads = Threads::check(
        &fake,
        batch_threads
            .into_iter()
            .chain(mentions.iter().map(Mention::thread)),
    );
    let load_acks = ack_latencies(&load, &fake, &mentions, rate);
    let unexpected = fake.unexpected();
    let rate_limited = fake.calls().iter().filter(|c| c.rate_limited).count();

    // 4. Stop lucid and count what it stored.
    lucid.stop();
    let counts = Counts::read(&dir.path().join("lucid.db")).await;

    let mut latencies = load.latencies.clone();
    latencies.sort();
    println!();
    println!("lucid Slack webhooks: POST /webhooks/slack/events, app_mention events, SQLite");
    println!("{:<44} {:>14}", "figure", "value");
    let row = |name: &str, value: String| println!("{name:<44} {value:>14}");
    row("target rate (req/s)", format!("{rate:.0}"));
    row("channels", channels.to_string());
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
        format!("{}", counts.sessions as i64 - ACK_BATCH as i64),
    );
    row(
        "sessions / deliveries / threads (all)",
        format!(
            "{}/{}/{}",
            counts.sessions, counts.deliveries, counts.threads
        ),
    );
    row(
        "sessions expected (load + ack batch)",
        expected_sessions.to_string(),
    );
    row("status messages stored", counts.status_messages.to_string());
    row(
        "duplicates resent (answered duplicate)",
        format!("{resent} ({resent_ok})"),
    );
    row("ack batch size", ACK_BATCH.to_string());
    let idle = latency_rows("ack latency, idle,", &acks, &[50, 95]);
    let under_load = latency_rows("ack latency, load,", &load_acks, &[50, 95, 99]);
    for (name, value) in idle.into_iter().chain(under_load) {
        row(&name, value);
    }
    row(
        "threads acknowledged exactly once",
        format!("{}/{expected_sessions}", threads.once),
    );
    row("threads never acknowledged", threads.missing.to_string());
    row(
        "threads acknowledged more than once",
        threads.doubled.to_string(),
    );
    row(
        "messages outside the mentions' threads",
        threads.stray.to_string(),
    );
    row(
        "calls to Slack rate-limited (429)",
        rate_limited.to_string(),
    );
    row(
        "calls to Slack lucid should not make",
        unexpected.len().to_string(),
    );
    for call in unexpected.iter().take(5) {
        println!(
            "  {} {} -> {} {}",
            call.http_method,
            call.method,
            call.status,
            call.error.as_deref().unwrap_or("ok")
        );
    }
    row(
        "lucid warn/error log lines",
        lucid.problems().len().to_string(),
    );
    for line in lucid.problems().iter().take(5) {
        println!("  {}", strip_ansi(line));
    }

    let mut failures = Vec::new();
    if load.ok != total || load.no_session != 0 {
        failures.push(format!(
            "{} of {total} requests were not 2xx, {} answered without a session",
            total - load.ok,
            load.no_session
        ));
    }
    if counts.sessions != expected_sessions
        || counts.deliveries != expected_sessions
        || counts.distinct_deliveries != expected_sessions
        || counts.threads != expected_sessions
        || counts.distinct_threads != expected_sessions
        || counts.status_messages != expected_sessions
    {
        failures.push(format!(
            "expected {expected_sessions} sessions, deliveries, threads and status messages, \
             found {counts:?}"
        ));
    }
    if resent_ok != resent {
        failures.push(format!(
            "{} of {resent} resent events were not answered as duplicates",
            resent - resent_ok
        ));
    }
    if threads.once != expected_sessions || threads.stray != 0 {
        failures.push(format!(
            "expected one acknowledgement in each of {expected_sessions} threads and nothing \
             else, found {threads:?}"
        ));
    }
    if !unexpected.is_empty() {
        failures.push(format!(
            "lucid made {} calls the fake Slack flags as wrong",
            unexpected.len()
        ));
    }
    if !failures.is_empty() {
        panic!(
            "the benchmark's checks failed:\n  {}",
            failures.join("\n  ")
        );
    }
    println!(
        "checks: every answer 2xx, no session lost or doubled, one acknowledgement per \
         thread, resends changed nothing"
    );
}

/// Sends `ACK_BATCH` mentions, one every `ACK_EVERY`, each in a channel of its own,
/// and returns the sorted times from each send to its acknowledgement reaching the
/// fake, and the batch's threads.
async fn ack_latency(
    fake: &Arc<FakeSlack>,
    client: &Client,
    url: &str,
    template: &Template,
    next_event: &mut usize,
) -> (Vec<Duration>, Vec<(String, String)>) {
    let mentions: Vec<Mention> = (0..ACK_BATCH)
        .map(|i| Mention::new(template, *next_event + i, &format!("CACK{i:03}")))
        .collect();
    *next_event += ACK_BATCH;
    let keys: Vec<(String, String)> = mentions.iter().map(Mention::thread).collect();
    let sent: Arc<Mutex<HashMap<(String, String), std::time::Instant>>> = Arc::default();
    let sender = {
        let (client, url, sent) = (client.clone(), url.to_owned(), sent.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(ACK_EVERY);
            let mut answers = Vec::new();
            for mention in mentions {
                tick.tick().await;
                sent.lock()
                    .unwrap()
                    .insert(mention.thread(), std::time::Instant::now());
                let (client, url) = (client.clone(), url.clone());
                answers.push(tokio::spawn(async move {
                    mention.send(&client, &url, None).await
                }));
            }
            for answer in answers {
                let (status, body) = answer.await.unwrap().expect("an ack batch request failed");
                assert!(
                    status.is_success() && body.contains("\"session\""),
                    "an ack batch request got {status}: {body}"
                );
            }
        })
    };
    fake.wait_until("an acknowledgement in every thread of the batch", |fake| {
        let acked: HashSet<(String, String)> = fake
            .messages()
            .into_iter()
            .filter_map(|m| Some((m.channel, m.thread_ts?)))
            .collect();
        keys.iter().all(|k| acked.contains(k)).then_some(())
    })
    .await;
    sender.await.unwrap();
    // The fake notes when each call arrived: the time to the acknowledgement is from
    // the send to its `chat.postMessage` reaching "Slack".
    let posted = first_posts(fake);
    let sent = sent.lock().unwrap();
    let mut latencies: Vec<Duration> = keys
        .iter()
        .map(|key| posted[key].saturating_duration_since(sent[key]))
        .collect();
    latencies.sort();
    (latencies, keys)
}

/// When the first accepted `chat.postMessage` in each (channel, thread_ts) reached the
/// fake.
fn first_posts(fake: &FakeSlack) -> HashMap<(String, String), std::time::Instant> {
    let mut first = HashMap::new();
    for call in fake.calls_to("chat.postMessage") {
        if call.error.is_some() || call.rate_limited {
            continue;
        }
        if let (Some(channel), Some(thread_ts)) = (call.param("channel"), call.param("thread_ts")) {
            first.entry((channel, thread_ts)).or_insert(call.at);
        }
    }
    first
}

/// Replies (messages with a `thread_ts`) lucid has posted so far.
fn count_replies(fake: &FakeSlack) -> usize {
    fake.messages()
        .iter()
        .filter(|m| m.thread_ts.is_some())
        .count()
}

/// The fake's messages grouped by thread, against the threads of the mentions sent.
#[derive(Debug)]
struct Threads {
    /// Mentions whose thread has exactly one message of lucid's.
    once: usize,
    /// Mentions whose thread has none.
    missing: usize,
    /// Mentions whose thread has more than one.
    doubled: usize,
    /// Messages in no mention's thread (top level, or in another thread).
    stray: usize,
}

impl Threads {
    /// Groups the fake's messages by thread and checks them against `threads`, the
    /// threads of every mention sent.
    fn check(fake: &FakeSlack, threads: impl IntoIterator<Item = (String, String)>) -> Threads {
        let mut per_thread: HashMap<(String, String), usize> = HashMap::new();
        let mut stray = 0;
        for message in fake.messages() {
            match message.thread_ts {
                Some(thread_ts) => {
                    *per_thread.entry((message.channel, thread_ts)).or_default() += 1
                }
                None => stray += 1,
            }
        }
        let mut found = Threads {
            once: 0,
            missing: 0,
            doubled: 0,
            stray,
        };
        for key in threads {
            match per_thread.remove(&key) {
                None => found.missing += 1,
                Some(1) => found.once += 1,
                Some(_) => found.doubled += 1,
            }
        }
        // What is left was posted in threads no mention started.
        found.stray += per_thread.values().sum::<usize>();
        found
    }
}

/// The sorted times from each mention's scheduled send to its acknowledgement
/// reaching the fake (mentions never acknowledged are left out, and counted by
/// [`Threads`]).
fn ack_latencies(load: &Load, fake: &FakeSlack, mentions: &[Mention], rate: f64) -> Vec<Duration> {
    let posted = first_posts(fake);
    let start = load.start.into_std();
    let mut latencies: Vec<Duration> = mentions
        .iter()
        .enumerate()
        .filter_map(|(i, mention)| {
            let scheduled = start + Duration::from_secs_f64(i as f64 / rate);
            let at = posted.get(&mention.thread())?;
            Some(at.saturating_duration_since(scheduled))
        })
        .collect();
    latencies.sort();
    latencies
}

/// The recorded `app_mention` `event_callback`, sent to the fake's workspace and bot.
struct Template(Value);

impl Template {
    fn load() -> Template {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/slack/event_callback.app_mention.json"
        );
        let mut v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        v["team_id"] = TEAM.into();
        v["context_team_id"] = TEAM.into();
        v["event"]["team"] = TEAM.into();
        v["event"]["user"] = AUTHOR.into();
        v["authorizations"][0]["team_id"] = TEAM.into();
        v["authorizations"][0]["user_id"] = BOT_USER.into();
        Template(v)
    }
}

/// The `ts` of mention `n`: unique, and shaped like Slack's (`seconds.micros`).
fn event_ts(n: usize) -> String {
    format!("{}.{:06}", 1_700_000_000 + n / 1_000_000, n % 1_000_000)
}

/// One mention of the bot, ready to sign and send (and to resend as is).
struct Mention {
    channel: String,
    ts: String,
    body: bytes::Bytes,
}

impl Mention {
    /// Mention number `n` in `channel`: event id `EvBENCH…n`, ts [`event_ts`]`(n)`,
    /// asking for a task without naming a repository (the channel's default applies).
    fn new(template: &Template, n: usize, channel: &str) -> Mention {
        let ts = event_ts(n);
        let task = format!("fix the flaky test {n}");
        let mut v = template.0.clone();
        v["event_id"] = format!("EvBENCH{n:08}").into();
        v["event_time"] = (1_700_000_000 + n / 1_000_000).into();
        v["event"]["channel"] = channel.into();
        v["event"]["ts"] = ts.clone().into();
        v["event"]["event_ts"] = ts.clone().into();
        v["event"]["client_msg_id"] = uuid::Uuid::now_v7().to_string().into();
        v["event"]["text"] = format!("<@{BOT_USER}> {task}").into();
        v["event"]["blocks"][0]["elements"][0]["elements"] = json!([
            {"type": "user", "user_id": BOT_USER},
            {"type": "text", "text": format!(" {task}")},
        ]);
        Mention {
            channel: channel.to_owned(),
            ts,
            body: serde_json::to_vec(&v).unwrap().into(),
        }
    }

    /// The thread lucid answers it in: (channel, the mention's ts).
    fn thread(&self) -> (String, String) {
        (self.channel.clone(), self.ts.clone())
    }

    /// Signs the body with the current time, as Slack does for every attempt, and
    /// sends it; `retry` sets `X-Slack-Retry-Num` (and the reason) like a Slack retry.
    async fn send(&self, client: &Client, url: &str, retry: Option<u32>) -> Answer {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let (timestamp, signature) = (now.to_string(), sign(SECRET, now, &self.body));
        let retry = retry.map(|n| n.to_string());
        let mut headers = vec![
            ("Content-Type", "application/json"),
            (TIMESTAMP_HEADER, timestamp.as_str()),
            (SIGNATURE_HEADER, signature.as_str()),
        ];
        if let Some(n) = &retry {
            headers.extend([
                (RETRY_NUM_HEADER, n.as_str()),
                (RETRY_REASON_HEADER, "http_timeout"),
            ]);
        }
        client.post(url, &headers, self.body.clone()).await
    }
}

#[derive(Debug)]
struct Counts {
    sessions: usize,
    deliveries: usize,
    distinct_deliveries: usize,
    threads: usize,
    distinct_threads: usize,
    status_messages: usize,
}

impl Counts {
    async fn read(db: &Path) -> Counts {
        let url = format!("sqlite://{}", db.display());
        let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
        let mut counts = Vec::new();
        for sql in [
            "SELECT COUNT(*) FROM sessions",
            "SELECT COUNT(*) FROM deliveries WHERE platform = 'slack'",
            "SELECT COUNT(DISTINCT delivery_id) FROM sessions",
            "SELECT COUNT(*) FROM threads WHERE platform = 'slack'",
            "SELECT COUNT(DISTINCT thread) FROM sessions",
            "SELECT COUNT(*) FROM thread_messages WHERE purpose = 'status'",
        ] {
            let n: i64 = sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap();
            counts.push(n as usize);
        }
        Counts {
            sessions: counts[0],
            deliveries: counts[1],
            distinct_deliveries: counts[2],
            threads: counts[3],
            distinct_threads: counts[4],
            status_messages: counts[5],
        }
    }
}
