//! The inbound Notion paths end to end, against the real `lucid serve` binary and the
//! test suite's fake Notion (REST with Notion's limits, its rate limit of three
//! requests a second on average included, and signed webhooks):
//!
//! 1. Events: signed `page.properties_updated` webhook events (each its own event id)
//!    sent open-loop at a fixed rate to `POST /webhooks/notion`. It reports the time
//!    to the HTTP answer, and checks that every answer is 200 `{"queued":…}`. The
//!    events name `BENCH_PAGES` pages (default 20) in a status lucid does not act on
//!    (Done), so reading them starts nothing; lucid reads each page once for all the
//!    events about it kept before the read, within Notion's pace. The bench waits
//!    until lucid's inbox holds no event left to read and reports how long that took
//!    after the last answer.
//! 2. Hand-over by webhook: `BENCH_MOVES` pages (default 20), one at a time, one every
//!    `BENCH_MOVE_EVERY_MS` (default 1500), moved by a person to "Ready for agent" in
//!    the fake (which delivers the signed event and waits for lucid's answer); each is
//!    timed from that answer until the page shows "In progress" in the fake. Taking a
//!    page costs lucid about four requests to Notion (the page, its content, a
//!    person's name the first time, the status write, the opening comment), so one
//!    move every 1.5 s keeps lucid near Notion's pace rather than measuring its queue.
//! 3. Hand-over by polling: a second `lucid serve`, on its own store and its own task
//!    database, polling every `BENCH_POLL_INTERVAL` (default 2s) with webhooks off in
//!    the fake; `BENCH_POLL_MOVES` pages (default 10) moved the same way, each timed
//!    from the move until the page shows "In progress".
//!
//! Every webhook body is built and signed before the load, so the generator's cost is
//! not measured. No model is configured, so sessions stay queued: a taken page shows
//! "In progress" as soon as lucid takes its task, before any sandbox would run. Every
//! database's default repository is `acme/app` (`LUCID_NOTION_DATABASE_REPOS=*=acme/app`),
//! so the pages need no repository property. The fake's rate limit stays on: lucid
//! paces itself to it, and any 429 it gets is counted.
//!
//! `BENCH_TIMELINE=1` prints, for each move, the calls the fake Notion got from it
//! on, with their times: where a move's time went.
//!
//! Every timing is printed with the share of the machine's CPU the host took meanwhile
//! (steal), which no code here can help.
//!
//! Run: `cargo bench --bench notion_webhooks` (1000 events/second for 30 seconds, 20
//! and 10 moves); `BENCH_RATE=200 BENCH_SECONDS=5 BENCH_MOVES=5 BENCH_POLL_MOVES=3
//! cargo bench --bench notion_webhooks` for a quick run.

// (The fake allows its own dead code.)
#[allow(unused_imports)]
#[path = "../tests/it/fake_notion/mod.rs"]
mod fake_notion;

/// What the fake takes from the test harness.
mod harness {
    /// How long `FakeNotion::wait_until` waits before it gives up.
    pub const DEADLINE: std::time::Duration = std::time::Duration::from_secs(60);
}

// Shared by the webhook benchmarks; each uses its own part of it.
#[allow(dead_code)]
mod common;
use common::{
    Client, Lucid, Usage, UsageSpent, env_or, latency_rows, load_rows, open_loop_expecting,
    raise_fd_limit, strip_ansi,
};
use fake_notion::{DatabaseSpec, FakeNotion, NewPage, NotionDatabase};
use lucid::notion::inbound::SIGNATURE_HEADER;
use sqlx::Connection;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

const REPO: &str = "acme/app";
const TOKEN: &str = "ntn_benchNotionIntegrationSecret0123456789";
const TRIGGER: &str = "Ready for agent";
const IN_PROGRESS: &str = "In progress";
/// The status of the pages the events name: one lucid does not act on.
const DONE: &str = "Done";
/// How long lucid may take to read every kept event after the load's last answer.
const DRAIN_SETTLE: Duration = Duration::from_secs(300);
/// How often the inbox is looked at while it drains.
const DRAIN_LOOK_EVERY: Duration = Duration::from_millis(20);
/// lucid paces its calls to Notion to three a second with bursts of ten (as the fake
/// allows them): after this long idle its allowance is whole again, so one part's
/// calls do not slow the next part's.
const REST: Duration = Duration::from_millis(3_500);
/// How long a moved page may take to show "In progress" (webhook or poll); less than
/// the fake's own deadline, past which its `wait_until` panics.
const MOVE_SETTLE: Duration = Duration::from_secs(50);

/// The fake platform and the load generator allocate as much as lucid does; the same
/// allocator keeps the bench's own cost (which shares the machine) down.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// What a run is asked to do.
struct Setup {
    rate: f64,
    seconds: f64,
    pages: usize,
    moves: usize,
    poll_moves: usize,
    move_every: Duration,
    poll_interval: String,
}

fn main() {
    raise_fd_limit();
    let setup = Setup {
        rate: env_or("BENCH_RATE", 1000.0),
        seconds: env_or("BENCH_SECONDS", 30.0),
        pages: env_or("BENCH_PAGES", 20.0) as usize,
        moves: env_or("BENCH_MOVES", 20.0) as usize,
        poll_moves: env_or("BENCH_POLL_MOVES", 10.0) as usize,
        move_every: Duration::from_secs_f64(env_or("BENCH_MOVE_EVERY_MS", 1500.0) / 1e3),
        poll_interval: std::env::var("BENCH_POLL_INTERVAL").unwrap_or_else(|_| "2s".to_owned()),
    };
    assert!(
        setup.rate > 0.0 && setup.seconds > 0.0 && setup.pages > 0,
        "BENCH_RATE, BENCH_SECONDS and BENCH_PAGES must be > 0"
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    // The fake platform stands in for servers far away: it gets lucid's background
    // priority, so serving lucid's calls never delays the load generator (whose clock
    // is the measurement) or lucid's answers.
    let far_away = lucid::background::build().unwrap();
    runtime.block_on(run(setup, far_away.handle().clone()));
}

async fn run(setup: Setup, far_away: tokio::runtime::Handle) {
    let fake = Arc::new(
        far_away
            .spawn(async { FakeNotion::start(TOKEN).await })
            .await
            .unwrap(),
    );
    let tasks = fake.create_database(DatabaseSpec::default());
    let polled = fake.create_database(DatabaseSpec {
        title: "Polled tasks".into(),
        ..DatabaseSpec::default()
    });
    let ada = fake.add_person("Ada Lovelace");
    let done_pages: Vec<String> = (0..setup.pages)
        .map(|i| {
            page(
                &fake,
                &tasks,
                &format!("Shipped task {i}"),
                Some(DONE),
                &ada,
            )
        })
        .collect();
    let moved_pages: Vec<String> = (0..setup.moves)
        .map(|i| page(&fake, &tasks, &format!("Webhook task {i}"), None, &ada))
        .collect();
    let polled_pages: Vec<String> = (0..setup.poll_moves)
        .map(|i| page(&fake, &polled, &format!("Polled task {i}"), None, &ada))
        .collect();

    let dir = tempfile::tempdir().unwrap();
    let mut lucid = Lucid::start(dir.path(), &settings(&fake, &tasks, "off"));
    let url = format!("http://{}/webhooks/notion", lucid.address);
    let db = dir.path().join("lucid.db");

    // 1. The load: every event built and signed first.
    let total = (setup.rate * setup.seconds).round() as usize;
    let events = Arc::new(Events::build(&fake, &done_pages, &ada, total));
    let client = Client::default();
    let calls_before = fake.calls().len();
    let usage = Usage::start(lucid.pid());
    let load = {
        let (client, url, events) = (client.clone(), url.clone(), events.clone());
        open_loop_expecting(
            total,
            setup.rate,
            |body| body.contains("\"queued\""),
            move |i| {
                let (client, url, events) = (client.clone(), url.clone(), events.clone());
                async move {
                    let event = &events.list[i];
                    let headers = [
                        ("Content-Type", "application/json"),
                        ("User-Agent", "notion-api"),
                        (SIGNATURE_HEADER, event.signature.as_str()),
                    ];
                    client.post(&url, &headers, event.body.clone()).await
                }
            },
        )
        .await
    };
    let spent = usage.since();

    // Every kept event is read, after its answer and within Notion's pace.
    let answered = Instant::now();
    let drain_usage = Usage::start(lucid.pid());
    let left = drain(&db, answered + DRAIN_SETTLE).await;
    let drained = answered.elapsed();
    let drain_spent = drain_usage.since();
    let load_calls = fake.calls()[calls_before..].to_vec();
    let after_load = Counts::read(&db).await;

    // 2. Hand-over by webhook, once lucid's pace has recovered from reading the inbox.
    tokio::time::sleep(REST).await;
    fake.enable_webhooks(&url);
    let calls_before = fake.calls().len();
    let usage = Usage::start(lucid.pid());
    let by_webhook = moves(&fake, &moved_pages, &ada, setup.move_every, None).await;
    let webhook_spent = usage.since();
    let webhook_calls = fake.calls()[calls_before..].to_vec();
    // Each taken page gets one opening comment, after its status.
    let opened = wait_for_comments(&fake, &moved_pages).await;
    let problems_first = lucid.problems();
    lucid.stop();
    let counts = Counts::read(&db).await;

    // 3. Hand-over by polling: another lucid, its own store and database, no webhooks.
    fake.disable_webhooks();
    let deliveries_before = fake.deliveries().len();
    let poll_dir = tempfile::tempdir().unwrap();
    let mut poller = Lucid::start(
        poll_dir.path(),
        &settings(&fake, &polled, &setup.poll_interval),
    );
    // The first poll (every page in the trigger status: none) sets where the next
    // ones start; the moves begin after it.
    let source = polled.data_source_id.replace('-', "");
    fake.wait_until("the polling lucid's first query", |f| {
        f.calls()
            .iter()
            .any(|c| c.method == "POST" && c.path.replace('-', "").contains(&source))
            .then_some(())
    })
    .await;
    tokio::time::sleep(REST).await;
    let calls_before = fake.calls().len();
    let usage = Usage::start(poller.pid());
    let poll_every = humantime::parse_duration(&setup.poll_interval)
        .expect("BENCH_POLL_INTERVAL is a duration (2s, 500ms)");
    let by_poll = moves(
        &fake,
        &polled_pages,
        &ada,
        setup.move_every,
        Some(poll_every),
    )
    .await;
    let poll_spent = usage.since();
    let poll_calls = fake.calls()[calls_before..].to_vec();
    let polled_opened = wait_for_comments(&fake, &polled_pages).await;
    let unexpected = fake.unexpected();
    let problems_poll = poller.problems();
    let delivered_while_polling = fake.deliveries().len() - deliveries_before;
    poller.stop();
    let poll_counts = Counts::read(&poll_dir.path().join("lucid.db")).await;

    // The figures.
    let mut latencies = load.latencies.clone();
    latencies.sort();
    println!();
    println!(
        "lucid Notion: POST /webhooks/notion (page.properties_updated), status hand-over by \
         webhook and by polling, SQLite"
    );
    println!("{:<52} {:>14}", "figure", "value");
    let row = |name: &str, value: String| println!("{name:<52} {value:>14}");
    let steal = |spent: &UsageSpent| format!("{:.0}", spent.stolen * 100.0);
    println!("-- 1. signed events, open loop");
    row("target rate (req/s)", format!("{:.0}", setup.rate));
    row("pages the events name", setup.pages.to_string());
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
    row(
        "2xx answers without \"queued\"",
        load.no_session.to_string(),
    );
    for (name, value) in load_rows(&load, &latencies, &spent, total) {
        row(&name, value);
    }
    row(
        "inbox read to the end, after the last answer (s)",
        format!("{:.2}", drained.as_secs_f64()),
    );
    row("events left unread", left.to_string());
    row(
        "machine CPU taken by the host (steal, %, reading)",
        steal(&drain_spent),
    );
    row(
        "lucid CPU reading the inbox, after the load (ms)",
        format!("{:.0}", drain_spent.lucid.as_secs_f64() * 1e3),
    );
    let reads = load_calls
        .iter()
        .filter(|c| c.method == "GET" && c.path.starts_with("/v1/pages/"))
        .count();
    row("page reads for the events", reads.to_string());
    row(
        "events read per page read",
        format!("{:.0}", total as f64 / reads.max(1) as f64),
    );
    row(
        "calls to Notion (all / 429) during 1",
        format!("{}/{}", load_calls.len(), rate_limited(&load_calls)),
    );
    row(
        "sessions started by the events",
        after_load.sessions.to_string(),
    );

    println!("-- 2. hand-over by webhook");
    row("pages moved", by_webhook.latencies.len().to_string());
    row(
        "move pace (ms between moves)",
        format!("{:.0}", setup.move_every.as_secs_f64() * 1e3),
    );
    let answer_rows = latency_rows("move's webhook answered,", &by_webhook.answers, &[50, 95]);
    let progress_rows = latency_rows(
        "answer to \"In progress\",",
        &by_webhook.latencies,
        &[50, 95],
    );
    for (name, value) in answer_rows.into_iter().chain(progress_rows) {
        row(&name, value);
    }
    row("webhook answers not 200", by_webhook.not_ok.to_string());
    row(
        "pages never \"In progress\"",
        by_webhook.missing.to_string(),
    );
    row(
        "machine CPU taken by the host (steal, %, moves)",
        steal(&webhook_spent),
    );
    row(
        "calls to Notion (all / 429) during 2",
        format!("{}/{}", webhook_calls.len(), rate_limited(&webhook_calls)),
    );
    row(
        "calls to Notion per page taken",
        format!(
            "{:.1}",
            webhook_calls.len() as f64 / setup.moves.max(1) as f64
        ),
    );
    row(
        "pages with one opening comment",
        format!("{}/{}", opened, setup.moves),
    );
    row(
        "sessions / thread pages (all of lucid 1)",
        format!("{}/{}", counts.sessions, counts.threads),
    );

    println!("-- 3. hand-over by polling (every {})", setup.poll_interval);
    row("pages moved", by_poll.latencies.len().to_string());
    for (name, value) in latency_rows("move to \"In progress\",", &by_poll.latencies, &[50, 95]) {
        row(&name, value);
    }
    row("pages never \"In progress\"", by_poll.missing.to_string());
    row(
        "machine CPU taken by the host (steal, %, polls)",
        steal(&poll_spent),
    );
    row(
        "calls to Notion (all / 429) during 3",
        format!("{}/{}", poll_calls.len(), rate_limited(&poll_calls)),
    );
    for (what, prefix) in [
        ("queries", "/v1/data_sources/"),
        ("comment reads", "/v1/comments"),
    ] {
        let method = if what == "queries" { "POST" } else { "GET" };
        let n = poll_calls
            .iter()
            .filter(|c| c.method == method && c.path.starts_with(prefix))
            .count();
        row(&format!("  of which {what}"), n.to_string());
    }
    row(
        "pages with one opening comment",
        format!("{}/{}", polled_opened, setup.poll_moves),
    );
    row(
        "sessions / thread pages (lucid 2)",
        format!("{}/{}", poll_counts.sessions, poll_counts.threads),
    );
    row(
        "webhooks delivered while polling",
        delivered_while_polling.to_string(),
    );

    println!("-- both");
    row(
        "things the fake Notion flags as wrong",
        unexpected.len().to_string(),
    );
    for what in unexpected.iter().take(5) {
        println!("  {what}");
    }
    let problems: Vec<String> = problems_first.into_iter().chain(problems_poll).collect();
    row("lucid warn/error log lines", problems.len().to_string());
    for line in problems.iter().take(5) {
        println!("  {}", strip_ansi(line));
    }

    let mut failures = Vec::new();
    if load.ok != total || load.no_session != 0 {
        failures.push(format!(
            "{} of {total} events were not answered 2xx, {} answered without \"queued\"",
            total - load.ok,
            load.no_session
        ));
    }
    if left != 0 {
        failures.push(format!(
            "{left} events were still unread {DRAIN_SETTLE:?} after the load"
        ));
    }
    if after_load.sessions != 0 {
        failures.push(format!(
            "events about pages in {DONE:?} started {} sessions",
            after_load.sessions
        ));
    }
    if by_webhook.missing != 0 || by_webhook.not_ok != 0 || by_poll.missing != 0 {
        failures.push(format!(
            "moved pages never \"In progress\": {} by webhook, {} by polling; {} webhook \
             answers not 200",
            by_webhook.missing, by_poll.missing, by_webhook.not_ok
        ));
    }
    if counts.sessions != setup.moves || counts.threads != setup.moves {
        failures.push(format!(
            "expected {} sessions on as many pages by webhook, found {counts:?}",
            setup.moves
        ));
    }
    if poll_counts.sessions != setup.poll_moves || poll_counts.threads != setup.poll_moves {
        failures.push(format!(
            "expected {} sessions on as many pages by polling, found {poll_counts:?}",
            setup.poll_moves
        ));
    }
    if opened != setup.moves || polled_opened != setup.poll_moves {
        failures.push(format!(
            "pages with one opening comment: {opened}/{} by webhook, {polled_opened}/{} by \
             polling",
            setup.moves, setup.poll_moves
        ));
    }
    if !unexpected.is_empty() {
        failures.push(format!(
            "lucid sent {} requests the fake Notion flags as wrong",
            unexpected.len()
        ));
    }
    if delivered_while_polling != 0 {
        failures.push(format!(
            "{delivered_while_polling} webhooks were delivered while only polling was measured"
        ));
    }
    if !failures.is_empty() {
        panic!(
            "the benchmark's checks failed:\n  {}",
            failures.join("\n  ")
        );
    }
    println!(
        "checks: every event answered 200 queued and read, none started a session; every \
         moved page In progress with one session and one opening comment, by webhook and \
         by polling"
    );
}

/// lucid's Notion settings for `database`, polling every `poll_interval` ("off": never).
fn settings(
    fake: &FakeNotion,
    database: &NotionDatabase,
    poll_interval: &str,
) -> Vec<(&'static str, String)> {
    vec![
        ("LUCID_NOTION_TOKEN", TOKEN.to_owned()),
        ("LUCID_NOTION_DATABASES", database.database_id.clone()),
        (
            "LUCID_NOTION_WEBHOOK_SECRET",
            fake.verification_token().to_owned(),
        ),
        ("LUCID_NOTION_API_URL", fake.api_base.clone()),
        ("LUCID_NOTION_POLL_INTERVAL", poll_interval.to_owned()),
        ("LUCID_NOTION_DATABASE_REPOS", format!("*={REPO}")),
    ]
}

/// A task page in `database` made by `by`, in `status` (None: no status yet), with a
/// line of content.
fn page(
    fake: &FakeNotion,
    database: &NotionDatabase,
    title: &str,
    status: Option<&str>,
    by: &str,
) -> String {
    fake.add_page(
        &database.data_source_id,
        NewPage {
            title: title.to_owned(),
            status: status.map(str::to_owned),
            repo: None,
            blocks: vec![fake_notion::BlockSpec::Paragraph(
                "Make the flaky test pass every time.".to_owned(),
            )],
            by: Some(by.to_owned()),
        },
    )
}

/// One signed event, ready to send.
struct Event {
    body: bytes::Bytes,
    signature: String,
}

/// The load's events: `page.properties_updated` by a person, naming the status, about
/// the pages in turn, each with its own event id.
struct Events {
    list: Vec<Event>,
}

impl Events {
    fn build(fake: &FakeNotion, pages: &[String], author: &str, count: usize) -> Events {
        let list = (0..count)
            .map(|i| {
                let mut event =
                    fake.page_properties_updated(&pages[i % pages.len()], author, &["Status"]);
                event["id"] = uuid::Uuid::now_v7().to_string().into();
                let body = serde_json::to_vec(&event).unwrap();
                Event {
                    signature: fake_notion::signature(fake.verification_token(), &body),
                    body: body.into(),
                }
            })
            .collect();
        Events { list }
    }
}

/// Waits until lucid's inbox holds no event left to read, or `deadline`; answers how
/// many are left.
async fn drain(db: &Path, deadline: Instant) -> usize {
    let url = format!("sqlite://{}", db.display());
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    loop {
        let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM inbox WHERE done_at IS NULL")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        if left == 0 || Instant::now() >= deadline {
            return left as usize;
        }
        tokio::time::sleep(DRAIN_LOOK_EVERY).await;
    }
}

/// What moving pages to the trigger status came to.
struct Moves {
    /// Sorted: from the move (by webhook: from lucid's answer to its event) until the
    /// page showed "In progress".
    latencies: Vec<Duration>,
    /// Sorted: from the move until lucid answered its event (webhook only).
    answers: Vec<Duration>,
    /// Webhook deliveries not answered 200.
    not_ok: usize,
    /// Pages not "In progress" within [`MOVE_SETTLE`].
    missing: usize,
}

/// Moves each page to the trigger status as a person would, one every `every` (or
/// after the last one showed "In progress", if later), and times each until it shows
/// "In progress". By webhook (`polled` None) the fake delivers the event and the time
/// starts at lucid's answer. By polling every `polled`, the time starts at the move,
/// and each move is put off by a different part of the interval: moved right after
/// the poll that took the last page, every page would wait one whole interval.
async fn moves(
    fake: &FakeNotion,
    pages: &[String],
    by: &str,
    every: Duration,
    polled: Option<Duration>,
) -> Moves {
    let webhook = polled.is_none();
    let mut found = Moves {
        latencies: Vec::new(),
        answers: Vec::new(),
        not_ok: 0,
        missing: 0,
    };
    let timeline = std::env::var_os("BENCH_TIMELINE").is_some();
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    for (i, page) in pages.iter().enumerate() {
        ticks.tick().await;
        if let Some(interval) = polled {
            // Spread evenly over the interval (the golden ratio's multiples, mod 1).
            let phase = ((i + 1) as f64 * 0.618_033_988_75).fract();
            tokio::time::sleep(interval.mul_f64(phase)).await;
        }
        let moved = Instant::now();
        let status = fake.move_page(page, TRIGGER, by).await;
        let answered = Instant::now();
        if webhook {
            found.answers.push(answered - moved);
            if status != Some(200) {
                found.not_ok += 1;
                eprintln!("a move's webhook was answered {status:?}");
            }
        }
        let start = if webhook { answered } else { moved };
        match in_progress(fake, page, answered + MOVE_SETTLE).await {
            Some(at) => found.latencies.push(at.saturating_duration_since(start)),
            None => found.missing += 1,
        }
        if timeline {
            print_timeline(fake, moved.into_std());
        }
    }
    found.latencies.sort();
    found.answers.sort();
    found
}

/// Prints the fake's calls since `from` (BENCH_TIMELINE=1: where a move's time went).
fn print_timeline(fake: &FakeNotion, from: std::time::Instant) {
    println!("move at 0 ms:");
    for call in fake.calls().iter().filter(|c| c.at >= from) {
        let ms = call.at.duration_since(from).as_secs_f64() * 1e3;
        println!(
            "  {ms:>8.1} ms {} {} -> {}",
            call.method, call.path, call.status
        );
    }
}

/// When the page first showed "In progress" (None: not by `deadline`). Woken by every
/// request the fake answers, lucid's status write among them.
async fn in_progress(fake: &FakeNotion, page: &str, deadline: Instant) -> Option<Instant> {
    let wait = fake.wait_until("the page to show In progress", |f| {
        (f.status_of(page).as_deref() == Some(IN_PROGRESS)).then(Instant::now)
    });
    tokio::time::timeout_at(deadline, wait).await.ok()
}

/// Waits (a while) for lucid's opening comment on each page; answers how many pages
/// have exactly one comment of lucid's.
async fn wait_for_comments(fake: &FakeNotion, pages: &[String]) -> usize {
    let bot = fake.bot().id.clone();
    let count = |f: &FakeNotion| {
        pages
            .iter()
            .filter(|p| f.comments(p).iter().filter(|c| c.author == bot).count() == 1)
            .count()
    };
    let all = fake.wait_until("an opening comment on every moved page", |f| {
        (count(f) == pages.len()).then_some(())
    });
    let _ = tokio::time::timeout(MOVE_SETTLE, all).await;
    count(fake)
}

/// How many of `calls` Notion answered 429.
fn rate_limited(calls: &[fake_notion::NotionCall]) -> usize {
    calls.iter().filter(|c| c.status == 429).count()
}

#[derive(Debug)]
struct Counts {
    sessions: usize,
    threads: usize,
}

impl Counts {
    async fn read(db: &Path) -> Counts {
        let url = format!("sqlite://{}", db.display());
        let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
        let mut counts = Vec::new();
        for sql in [
            "SELECT COUNT(*) FROM sessions WHERE platform = 'notion'",
            "SELECT COUNT(DISTINCT thread) FROM sessions WHERE platform = 'notion'",
        ] {
            let n: i64 = sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap();
            counts.push(n as usize);
        }
        Counts {
            sessions: counts[0],
            threads: counts[1],
        }
    }
}
