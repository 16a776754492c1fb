//! The inbound Discord paths end to end, against the real `lucid serve` binary and the
//! test suite's fake Discord (REST over TLS as discord.com, the gateway, Ed25519-signed
//! interactions):
//!
//! 1. Mentions (sent first, while lucid is otherwise idle): `BENCH_MENTIONS` messages
//!    `<@bot> fix it` posted through the gateway, one every 50 ms over several
//!    channels; each is timed from the post to lucid's first message in the thread it
//!    starts from the mention (the status message, `POST /channels/{mention}/messages`
//!    reaching the fake).
//! 2. Slash commands: signed `/lucid task:…` interactions sent open-loop at a fixed rate
//!    to `POST /webhooks/discord/interactions`, each a new session. It reports the time
//!    to the HTTP answer, and checks that none was lost or doubled: every answer 200
//!    `{"type":5}` (deferred), one session, delivery and thread per interaction in the
//!    store, and every deferred answer written with the session's status message
//!    (`PATCH /webhooks/{app}/{token}/messages/@original`) and a thread started from
//!    it; it reports the time from each send to that write.
//!
//! The bench signs and sends the interactions itself (bodies built and signed before
//! the load, so the generator's cost is not measured) and hands each answer to the
//! fake as the interaction's initial response, as the fake's `deliver` does; lucid
//! writes the deferred answer once Discord knows of it.
//!
//! No model is configured, so sessions stay queued: this measures verify, parse,
//! record and answer, plus the status message lucid writes afterwards. Every channel's
//! default repository is `acme/app` (`LUCID_DISCORD_CHANNEL_REPOS=*=acme/app`), so
//! every request starts a session rather than asking which repository.
//!
//! The commands are spread over `BENCH_CHANNELS` channels (default: one per 10
//! requests/second), so the threads lucid starts (a bot route, limited per channel by
//! the fake to 50 a second, as Discord limits it) are never held back.
//!
//! Run: `cargo bench --bench discord_interactions` (1000 requests/second for 30
//! seconds, 200 mentions); `BENCH_RATE=200 BENCH_SECONDS=5 BENCH_MENTIONS=50 cargo
//! bench --bench discord_interactions` for a quick run.

// (The fake allows its own dead code.)
#[allow(unused_imports)]
#[path = "../tests/it/fake_discord/mod.rs"]
mod fake_discord;

/// What the fake takes from the test harness.
mod harness {
    /// How long `FakeDiscord::wait_until` waits before it gives up.
    pub const DEADLINE: std::time::Duration = std::time::Duration::from_secs(60);
}

// Shared by the webhook benchmarks; each uses its own part of it.
#[allow(dead_code)]
mod common;
use common::{
    Client, Lucid, Usage, env_or, latency_rows, load_rows, open_loop_expecting, raise_fd_limit,
    strip_ansi,
};
use fake_discord::{FakeDiscord, PostedVia};
use lucid::discord::inbound::{SIGNATURE_HEADER, TIMESTAMP_HEADER};
use serde_json::Value;
use sqlx::Connection;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

const REPO: &str = "acme/app";
const GUILD: &str = "900000000000000001";
/// Who asks.
const AUTHOR: &str = "900000000000000030";
const TOKEN: &str = "bench-discord-bot-token-0123456789";
/// The first channel's id; the commands' channels follow it, then the mentions'.
const FIRST_CHANNEL: u64 = 900_000_000_000_100_000;
const MENTION_EVERY: Duration = Duration::from_millis(50);
const MENTION_CHANNELS: usize = 10;
/// How long the mentions' first messages may take.
const MENTION_SETTLE: Duration = Duration::from_secs(60);
/// How long the load's status messages may take to be written after its last answer
/// (`BENCH_SETTLE` seconds overrides it).
const ANSWER_SETTLE: f64 = 600.0;
/// What lucid answers a `/lucid` that starts a session: deferred, "lucid is thinking…".
const DEFERRED: &str = r#"{"type":5}"#;

/// The fake platform and the load generator allocate as much as lucid does; the same
/// allocator keeps the bench's own cost (which shares the machine) down.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    raise_fd_limit();
    let rate: f64 = env_or("BENCH_RATE", 1000.0);
    let seconds: f64 = env_or("BENCH_SECONDS", 30.0);
    let mentions = env_or("BENCH_MENTIONS", 200.0) as usize;
    let channels = env_or("BENCH_CHANNELS", (rate / 10.0).ceil()) as usize;
    let settle = Duration::from_secs_f64(env_or("BENCH_SETTLE", ANSWER_SETTLE));
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
    runtime.block_on(run(
        Setup {
            rate,
            seconds,
            mention_count: mentions,
            channels,
            settle,
        },
        far_away.handle().clone(),
    ));
}

/// What a run is asked to do.
struct Setup {
    rate: f64,
    seconds: f64,
    mention_count: usize,
    channels: usize,
    settle: Duration,
}

async fn run(setup: Setup, far_away: tokio::runtime::Handle) {
    let Setup {
        rate,
        seconds,
        mention_count,
        channels,
        settle,
    } = setup;
    let fake = Arc::new(
        far_away
            .spawn(async { FakeDiscord::start(TOKEN).await })
            .await
            .unwrap(),
    );
    fake.keep_little();
    fake.guild(GUILD, "acme");
    fake.person(AUTHOR, "ada");
    let command_channels: Vec<String> = (0..channels)
        .map(|i| (FIRST_CHANNEL + i as u64).to_string())
        .collect();
    let mention_channels: Vec<String> = (0..MENTION_CHANNELS)
        .map(|i| (FIRST_CHANNEL + (channels + i) as u64).to_string())
        .collect();
    for (i, channel) in command_channels.iter().enumerate() {
        fake.text_channel(GUILD, channel, &format!("load-{i}"));
    }
    for (i, channel) in mention_channels.iter().enumerate() {
        fake.text_channel(GUILD, channel, &format!("mentions-{i}"));
    }
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("fake-discord-ca.pem");
    std::fs::write(&ca, fake.ca_pem()).unwrap();
    let mut lucid = Lucid::start(
        dir.path(),
        &[
            (
                "LUCID_DISCORD_APPLICATION_ID",
                fake.bot().application_id.clone(),
            ),
            ("LUCID_DISCORD_PUBLIC_KEY", fake.public_key_hex()),
            ("LUCID_DISCORD_BOT_TOKEN", TOKEN.to_owned()),
            ("LUCID_DISCORD_GUILDS", GUILD.to_owned()),
            ("LUCID_DISCORD_CHANNEL_REPOS", format!("*={REPO}")),
            (
                "LUCID_DISCORD_API_URL",
                format!("https://{}", fake.tls_addr),
            ),
            ("LUCID_DISCORD_CA_FILE", ca.display().to_string()),
        ],
    );
    let url = format!("http://{}/webhooks/discord/interactions", lucid.address);
    fake.wait_until("/lucid registered and the gateway identified", |f| {
        let registered = f.commands(GUILD).iter().any(|c| c["name"] == "lucid");
        let connected = f.gateway_sessions().iter().any(|s| s.connected);
        (registered && connected).then_some(())
    })
    .await;

    // 1. Mentions, while lucid is otherwise idle.
    let mention_usage = Usage::start(lucid.pid());
    let mentions = mention_latency(&fake, &mention_channels, mention_count).await;
    let mention_spent = mention_usage.since();

    // 2. The load: every command built, signed and registered with the fake first.
    let total = (rate * seconds).round() as usize;
    let commands = Arc::new(Commands::build(&fake, &command_channels, total, rate));
    let client = Client::default();
    let statuses: Arc<Mutex<BTreeMap<String, usize>>> = Arc::default();
    let usage = Usage::start(lucid.pid());
    let load = {
        let (client, url, commands) = (client.clone(), url.clone(), commands.clone());
        let (fake, statuses, far_away) = (fake.clone(), statuses.clone(), far_away.clone());
        open_loop_expecting(
            total,
            rate,
            |body| body == DEFERRED,
            move |i| {
                let (client, url, commands) = (client.clone(), url.clone(), commands.clone());
                let (fake, statuses, far_away) = (fake.clone(), statuses.clone(), far_away.clone());
                async move {
                    let command = &commands.list[i];
                    let headers = [
                        ("Content-Type", "application/json"),
                        (
                            "User-Agent",
                            "Discord-Interactions/1.0 (+https://discord.com)",
                        ),
                        (SIGNATURE_HEADER, command.signature.as_str()),
                        (TIMESTAMP_HEADER, command.timestamp.as_str()),
                    ];
                    let sent = std::time::Instant::now();
                    let answer = client.post(&url, &headers, command.body.clone()).await;
                    let latency = sent.elapsed();
                    // Discord takes the answer as the interaction's response; done on the
                    // fake's runtime, off the clock of this request.
                    let (status, body) = match &answer {
                        Ok((status, body)) => (Some(status.as_u16()), body.clone()),
                        Err(_) => (None, String::new()),
                    };
                    let id = command.id.clone();
                    far_away.spawn(async move {
                        let key = status.map_or("transport error".to_owned(), |s| s.to_string());
                        *statuses.lock().unwrap().entry(key).or_default() += 1;
                        if let Some(status) = status {
                            let body = serde_json::from_str(&body).unwrap_or(Value::Null);
                            fake.record_answer(&id, status, &body, latency);
                        }
                    });
                    answer
                }
            },
        )
        .await
    };
    let answered = Instant::now();

    // Every deferred answer is written with its session's status message, and a
    // thread started from it; wait (a while) for them.
    let settle = answered + settle;
    let mut written = Written::check(&fake, &commands);
    while written.done < total && Instant::now() < settle {
        tokio::time::sleep(Duration::from_millis(500)).await;
        written = Written::check(&fake, &commands);
    }
    // From the load's start to its last follow-up on the fake.
    let spent = usage.since();
    let writes = Writes::read(&fake, &commands, &command_channels, load.start, rate);
    // lucid notes each status message in the store right after the thread is started.
    let expected_sessions = mention_count + total;
    let db = dir.path().join("lucid.db");
    let settle = Instant::now() + Duration::from_secs(30);
    loop {
        let counts = Counts::read(&db).await;
        if (counts.status_messages >= expected_sessions && counts.not_moved == 0)
            || Instant::now() >= settle
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // An edit of a deferred answer can reach Discord before the answer does (here:
    // before the bench hands the answer to the fake); Discord answers 10015 Unknown
    // Webhook, which the fake counts (`Writes::overtaken`) rather than flags, and lucid
    // tries it again a moment later. Anything the fake flags is a failure.
    let unexpected = fake.unexpected();
    let rate_limited = fake.with_calls(|calls| calls.iter().filter(|c| c.status == 429).count());

    // 3. Stop lucid and count what it stored.
    lucid.stop();
    let counts = Counts::read(&db).await;

    let mut latencies = load.latencies.clone();
    latencies.sort();
    let statuses = statuses.lock().unwrap().clone();
    println!();
    println!(
        "lucid Discord: POST /webhooks/discord/interactions (/lucid task:…), gateway \
         mentions, SQLite"
    );
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
    for (status, n) in &statuses {
        row(&format!("answers {status}"), n.to_string());
    }
    row(
        "2xx answers other than {\"type\":5}",
        load.no_session.to_string(),
    );
    for (name, value) in load_rows(&load, &latencies, &spent, total) {
        row(&name, value);
    }
    row(
        "sessions / deliveries / thread keys (all)",
        format!(
            "{}/{}/{}",
            counts.sessions, counts.deliveries, counts.threads
        ),
    );
    row(
        "sessions expected (load + mentions)",
        expected_sessions.to_string(),
    );
    row("status messages stored", counts.status_messages.to_string());
    row(
        "sessions never moved from their stand-in",
        counts.not_moved.to_string(),
    );
    row(
        "answers written (@original), thread started",
        format!("{}/{total}", written.done),
    );
    row("answers still \"thinking\"", written.loading.to_string());
    row("answers written, no thread", written.no_thread.to_string());
    row(
        "answers written more than once",
        written.doubled.to_string(),
    );
    let tried = latency_rows("answer write first tried,", &writes.tried, &[50, 90, 99]);
    let written_rows = latency_rows("answer written, load,", &writes.written, &[50, 90, 99]);
    for (name, value) in tried.into_iter().chain(written_rows) {
        row(&name, value);
    }
    row(
        "answer edits before the answer was known",
        format!(
            "{} ({} answers)",
            writes.overtaken, writes.overtaken_answers
        ),
    );
    row(
        "answers posted with the bot token instead",
        writes.posted_instead.to_string(),
    );
    row(
        "last answer written, after the load (s)",
        writes.last.map_or("-".to_owned(), |at| {
            format!(
                "{:.2}",
                at.saturating_duration_since(answered.into_std())
                    .as_secs_f64()
            )
        }),
    );
    row("mentions sent", mention_count.to_string());
    for (name, value) in latency_rows("mention to first message,", &mentions.latencies, &[50, 95]) {
        row(&name, value);
    }
    row(
        "mentions answered once in their thread",
        format!("{}/{mention_count}", mentions.once),
    );
    row(
        "lucid CPU per mention (ms)",
        common::per_request(mention_spent.lucid, mention_count),
    );
    row(
        "machine CPU taken by the host (steal, %, mentions)",
        format!("{:.0}", mention_spent.stolen * 100.0),
    );
    row(
        "calls to Discord rate-limited (429)",
        rate_limited.to_string(),
    );
    row(
        "things the fake Discord flags as wrong",
        unexpected.len().to_string(),
    );
    for what in unexpected.iter().take(5) {
        println!("  {what}");
    }
    row(
        "lucid warn/error log lines",
        lucid.problems().len().to_string(),
    );
    // The same warning many times over is one line, with its count (and its first
    // error's words).
    let mut kinds: Vec<(String, usize)> = Vec::new();
    for line in lucid.problems() {
        let line = strip_ansi(&line);
        let what = line.split_once(' ').map_or(line.as_str(), |(_, rest)| rest);
        let kind = what.split(" session=").next().unwrap_or(what).to_owned();
        match kinds.iter_mut().find(|(k, _)| *k == kind) {
            Some((_, n)) => *n += 1,
            None => kinds.push((kind, 1)),
        }
    }
    for (kind, n) in kinds.iter().take(10) {
        println!("  {n} x {kind}");
    }

    let mut failures = Vec::new();
    let all_200 = statuses.get("200") == Some(&total);
    if !all_200 || load.ok != total || load.no_session != 0 {
        failures.push(format!(
            "expected {total} answers 200 {DEFERRED}, got {statuses:?}, {} other bodies",
            load.no_session
        ));
    }
    if counts.sessions != expected_sessions
        || counts.deliveries != expected_sessions
        || counts.distinct_deliveries != expected_sessions
        || counts.threads != expected_sessions + total
        || counts.distinct_threads != expected_sessions
        || counts.status_messages != expected_sessions
        || counts.not_moved != 0
    {
        failures.push(format!(
            "expected {expected_sessions} sessions, deliveries, threads and status messages \
             (and {total} stand-in threads), every session in its real thread, found {counts:?}"
        ));
    }
    if written.done != total || written.doubled != 0 {
        failures.push(format!(
            "expected each of {total} answers written once with a thread, found {written:?}"
        ));
    }
    if mentions.latencies.len() != mention_count || mentions.once != mention_count {
        failures.push(format!(
            "{} of {mention_count} mentions got a first message in their thread, {} exactly one",
            mentions.latencies.len(),
            mentions.once
        ));
    }
    if !unexpected.is_empty() {
        failures.push(format!(
            "lucid did {} things the fake Discord flags as wrong",
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
        "checks: every answer 200 {DEFERRED}, no session lost or doubled, every answer \
         written once with its thread, every mention answered once in its thread"
    );
}

/// What the mentions measured.
struct Mentions {
    /// Sorted times from each post to lucid's first message in its thread.
    latencies: Vec<Duration>,
    /// Mentions with a thread started from them holding exactly one message of
    /// lucid's (the status message).
    once: usize,
}

/// Posts `count` mentions of the bot, one every `MENTION_EVERY`, over `channels`, and
/// waits until lucid wrote in each one's thread.
async fn mention_latency(fake: &FakeDiscord, channels: &[String], count: usize) -> Mentions {
    let text = format!("<@{}> fix it", fake.bot().user_id);
    let mut posted: Vec<(String, std::time::Instant)> = Vec::with_capacity(count);
    let mut tick = tokio::time::interval(MENTION_EVERY);
    for i in 0..count {
        tick.tick().await;
        let at = std::time::Instant::now();
        let id = fake.post_as(AUTHOR, &channels[i % channels.len()], &text);
        posted.push((id, at));
    }
    // The fake notes when each call arrived: the first message is lucid's first
    // accepted `POST /channels/{thread}/messages` in the mention's thread. The calls
    // only grow: each look reads those it has not seen.
    let mut first: HashMap<String, std::time::Instant> = HashMap::new();
    let mut seen = 0;
    let mut read_new = |fake: &FakeDiscord, first: &mut HashMap<String, std::time::Instant>| {
        seen = fake.with_calls(|calls| {
            for call in &calls[seen..] {
                let segments: Vec<&str> = call.path.split('/').collect();
                if let ["", "api", "v10", "channels", thread, "messages"] = segments.as_slice()
                    && call.method == "POST"
                    && call.status == 200
                {
                    first
                        .entry((*thread).to_owned())
                        .or_insert(call.at + call.latency);
                }
            }
            calls.len()
        });
    };
    let settle = Instant::now() + MENTION_SETTLE;
    read_new(fake, &mut first);
    while posted.iter().any(|(id, _)| !first.contains_key(id)) && Instant::now() < settle {
        tokio::time::sleep(Duration::from_millis(100)).await;
        read_new(fake, &mut first);
    }
    let mut latencies: Vec<Duration> = posted
        .iter()
        .filter_map(|(id, at)| Some(first.get(id)?.saturating_duration_since(*at)))
        .collect();
    latencies.sort();
    let bot = fake.bot().user_id.clone();
    let once = posted
        .iter()
        .filter(|(id, _)| {
            let lucids = fake
                .channel_messages(id)
                .iter()
                .filter(|m| m.author_id == bot)
                .count();
            lucids == 1 && fake.thread_of(id).is_some()
        })
        .count();
    Mentions { latencies, once }
}

/// One `/lucid task:…`, built by the fake, signed, ready to send.
struct Command {
    id: String,
    token: String,
    body: bytes::Bytes,
    timestamp: String,
    signature: String,
}

struct Commands {
    list: Vec<Command>,
    /// Index in `list` by interaction token.
    by_token: HashMap<String, usize>,
    /// Index in `list` by interaction id.
    by_id: HashMap<String, usize>,
}

impl Commands {
    /// `total` commands, spread over `channels`, each signed with the time it is due
    /// to be sent (the load starts about now, at `rate` a second).
    fn build(fake: &FakeDiscord, channels: &[String], total: usize, rate: f64) -> Commands {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        let list: Vec<Command> = (0..total)
            .map(|i| {
                let task = format!("fix the flaky test {i}");
                let v = fake.slash_command(
                    GUILD,
                    &channels[i % channels.len()],
                    AUTHOR,
                    "lucid",
                    &[("task", task.as_str())],
                );
                let body = serde_json::to_vec(&v).unwrap();
                let timestamp = ((now + i as f64 / rate) as u64).to_string();
                let signature = fake.sign(&timestamp, &body);
                Command {
                    id: v["id"].as_str().unwrap().to_owned(),
                    token: v["token"].as_str().unwrap().to_owned(),
                    body: body.into(),
                    timestamp,
                    signature,
                }
            })
            .collect();
        let by_token = list
            .iter()
            .enumerate()
            .map(|(i, c)| (c.token.clone(), i))
            .collect();
        let by_id = list
            .iter()
            .enumerate()
            .map(|(i, c)| (c.id.clone(), i))
            .collect();
        Commands {
            list,
            by_token,
            by_id,
        }
    }
}

/// The load's deferred answers on the fake.
#[derive(Debug)]
struct Written {
    /// Answers written (no longer "thinking") with a thread started from them.
    done: usize,
    /// Answers still "thinking".
    loading: usize,
    /// Answers written with no thread.
    no_thread: usize,
    /// Interactions with more than one message of their own.
    doubled: usize,
}

impl Written {
    fn check(fake: &FakeDiscord, commands: &Commands) -> Written {
        let mut per_interaction = vec![0usize; commands.list.len()];
        let mut found = Written {
            done: 0,
            loading: 0,
            no_thread: 0,
            doubled: 0,
        };
        // Read in place: a copy of every message on each look would cost the fake
        // (which shares the machine with lucid) more than the look itself.
        fake.with_messages(|messages| {
            for message in messages {
                let PostedVia::Interaction(id) = &message.via else {
                    continue;
                };
                let Some(&i) = commands.by_id.get(id) else {
                    continue;
                };
                per_interaction[i] += 1;
                if message.is_loading() {
                    found.loading += 1;
                } else if message.thread_id.is_none() {
                    found.no_thread += 1;
                } else {
                    found.done += 1;
                }
            }
        });
        found.doubled = per_interaction.iter().filter(|n| **n > 1).count();
        found
    }
}

/// The load's deferred answers being written (`PATCH …/messages/@original`), from
/// the fake's records.
struct Writes {
    /// Sorted times from each command's scheduled send to lucid's first edit of its
    /// answer reaching the fake, accepted or not.
    tried: Vec<Duration>,
    /// The same to the first accepted edit (the answer written).
    written: Vec<Duration>,
    /// When the last answer was written.
    last: Option<std::time::Instant>,
    /// Edits answered 10015 Unknown Webhook (the answer not known to Discord yet), and
    /// the answers they were for.
    overtaken: usize,
    overtaken_answers: usize,
    /// Messages lucid posted with the bot token in the commands' channels: an answer
    /// it could not write, posted instead (the deferred answer stays "thinking").
    posted_instead: usize,
}

impl Writes {
    fn read(
        fake: &FakeDiscord,
        commands: &Commands,
        channels: &[String],
        start: Instant,
        rate: f64,
    ) -> Writes {
        let mut tried: HashMap<usize, std::time::Instant> = HashMap::new();
        let mut written: HashMap<usize, std::time::Instant> = HashMap::new();
        let mut overtaken: HashMap<usize, usize> = HashMap::new();
        let mut posted_instead = 0;
        let channels: std::collections::HashSet<&str> =
            channels.iter().map(String::as_str).collect();
        fake.with_calls(|calls| {
            for call in calls {
                let segments: Vec<&str> = call.path.split('/').collect();
                if let ["", "api", "v10", "channels", channel, "messages"] = segments.as_slice()
                    && call.method == "POST"
                    && call.status == 200
                    && channels.contains(channel)
                {
                    posted_instead += 1;
                    continue;
                }
                // `/api/v10/webhooks/{app}/{token}/messages/@original`
                let [
                    "",
                    "api",
                    "v10",
                    "webhooks",
                    _,
                    token,
                    "messages",
                    "@original",
                ] = segments.as_slice()
                else {
                    continue;
                };
                if call.method != "PATCH" {
                    continue;
                }
                let Some(&i) = commands.by_token.get(*token) else {
                    continue;
                };
                tried.entry(i).or_insert(call.at);
                if call.status == 200 {
                    written.entry(i).or_insert(call.at + call.latency);
                } else if call.code == Some(10015) {
                    *overtaken.entry(i).or_default() += 1;
                }
            }
        });
        let start = start.into_std();
        let since_sent = |at: &HashMap<usize, std::time::Instant>| {
            let mut latencies: Vec<Duration> = at
                .iter()
                .map(|(&i, at)| {
                    let scheduled = start + Duration::from_secs_f64(i as f64 / rate);
                    at.saturating_duration_since(scheduled)
                })
                .collect();
            latencies.sort();
            latencies
        };
        Writes {
            tried: since_sent(&tried),
            written: since_sent(&written),
            last: written.values().max().copied(),
            overtaken: overtaken.values().sum(),
            overtaken_answers: overtaken.len(),
            posted_instead,
        }
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
    /// Sessions known by a `/lucid`'s stand-in thread (`i<interaction id>`) only: never
    /// moved to the thread started from their status message. (The stand-in's key is
    /// kept, as another name of the session's thread.)
    not_moved: usize,
}

impl Counts {
    async fn read(db: &Path) -> Counts {
        let url = format!("sqlite://{}", db.display());
        let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
        let mut counts = Vec::new();
        for sql in [
            "SELECT COUNT(*) FROM sessions",
            "SELECT COUNT(*) FROM deliveries WHERE platform = 'discord'",
            "SELECT COUNT(DISTINCT delivery_id) FROM sessions",
            "SELECT COUNT(*) FROM threads WHERE platform = 'discord'",
            "SELECT COUNT(DISTINCT thread) FROM sessions",
            "SELECT COUNT(*) FROM thread_messages WHERE purpose = 'status'",
            // (NOT IN: a set built once; a correlated NOT EXISTS scans `threads`, which
            // has no index on session_id, once per session.)
            "SELECT COUNT(*) FROM sessions WHERE platform = 'discord' AND id NOT IN \
             (SELECT session_id FROM threads WHERE platform = 'discord' \
             AND thread_key NOT LIKE 'i%')",
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
            not_moved: counts[6],
        }
    }
}
