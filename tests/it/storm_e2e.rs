//! Redelivery storms: 1,000 distinct mentions (500 GitHub issue comments, 500 Slack
//! `app_mention`s), each sent four times at once as a platform's redelivery would send
//! it (the same `X-GitHub-Delivery`; the same `event_id` with `X-Slack-Retry-Num`),
//! against one `lucid serve` on SQLite and against two replicas on one PostgreSQL
//! database, the copies spread over both. Every copy is answered 2xx; the store holds
//! exactly 1,000 sessions; every thread gets exactly one acknowledgement (GitHub: one
//! 👀 on the comment, no comment by lucid, since the status comment comes with the
//! worker; Slack: one status message, no reaction, since the status message is the
//! acknowledgement there), and threads never mentioned get nothing.
//!
//! No model is configured, so no worker runs: the sessions stay queued (the promise
//! is about intake). The fake Slack keeps Slack's pace of a message a second per
//! channel and refuses a few calls with 429 besides: lucid's retries must converge.

use crate::harness::{Backend, fresh_db};
use crate::rig::{
    ADA, BOT_USER, Lucid, REPO, SECRET, SLACK_SECRET, comment_payload, now_unix, slack_message,
};
use futures::StreamExt;
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

const GITHUB_MENTIONS: u64 = 500;
const SLACK_MENTIONS: u64 = 500;
/// Deliveries that mention no one, per platform: their threads must stay untouched.
const DECOYS: u64 = 10;
/// Each delivery is sent this many times at once: the first and three redeliveries.
const COPIES: usize = 4;
/// The Slack mentions are spread over this many channels (Slack allows about one
/// message a second in each).
const CHANNELS: u64 = 100;
/// Deliveries in flight at once (each with its copies).
const AT_ONCE: usize = 48;
/// How long every thread may take to get its acknowledgement.
const ACKNOWLEDGED_WITHIN: Duration = Duration::from_secs(60);

/// One delivery as a platform sends it, every copy the same bytes.
enum Delivery {
    Github {
        id: String,
        body: Vec<u8>,
        comment: u64,
        mention: bool,
    },
    Slack {
        body: Vec<u8>,
        channel: String,
        ts: String,
        mention: bool,
    },
}

impl Delivery {
    fn mentions(&self) -> bool {
        match self {
            Delivery::Github { mention, .. } | Delivery::Slack { mention, .. } => *mention,
        }
    }
}

/// The storm's deliveries, GitHub's and Slack's interleaved; the comments they are
/// about are added to the fake GitHub.
fn deliveries(lucid: &Lucid) -> Vec<Delivery> {
    let github = (1..=GITHUB_MENTIONS + DECOYS).map(|issue| {
        let mention = issue <= GITHUB_MENTIONS;
        let words = if mention {
            format!("@lucid please fix add() #{issue}")
        } else {
            format!("add() looks wrong to me too #{issue}")
        };
        let comment = lucid.github.add_comment(REPO, issue, "ada", &words);
        let payload = comment_payload(issue, "add() subtracts", comment, "ada", &words);
        Delivery::Github {
            id: format!("storm-{issue:04}-{}", uuid::Uuid::now_v7().simple()),
            body: serde_json::to_vec(&payload).unwrap(),
            comment,
            mention,
        }
    });
    let slack = (0..SLACK_MENTIONS + DECOYS).map(|n| {
        let mention = n < SLACK_MENTIONS;
        let ts = format!("1700200000.{n:06}");
        let (kind, channel, text) = if mention {
            let channel = format!("C0STORM{:03}", n % CHANNELS);
            (
                "app_mention",
                channel,
                format!("<@{BOT_USER}> fix add() #{n}"),
            )
        } else {
            ("message", format!("C0QUIET{n:03}"), format!("lunch? #{n}"))
        };
        let payload = slack_message(kind, &channel, ADA, &ts, None, &text);
        Delivery::Slack {
            body: serde_json::to_vec(&payload).unwrap(),
            channel,
            ts,
            mention,
        }
    });
    let mut all: Vec<Delivery> = Vec::new();
    let (mut github, mut slack) = (github.peekable(), slack.peekable());
    while github.peek().is_some() || slack.peek().is_some() {
        all.extend(github.next());
        all.extend(slack.next());
    }
    all
}

/// Sends `copy` of `delivery` to the lucid at `url`, signed as its platform signs.
async fn send(http: &reqwest::Client, url: &str, delivery: &Delivery, copy: usize) -> (u16, Value) {
    let request = match delivery {
        Delivery::Github { id, body, .. } => http
            .post(format!("{url}/webhooks/github"))
            .header("X-GitHub-Event", "issue_comment")
            .header("X-GitHub-Delivery", id)
            .header(
                "X-Hub-Signature-256",
                lucid::github::inbound::sign(SECRET, body),
            )
            .header("content-type", "application/json")
            .body(body.clone()),
        Delivery::Slack { body, .. } => {
            let at = now_unix();
            let mut request = http
                .post(format!("{url}/webhooks/slack/events"))
                .header("X-Slack-Request-Timestamp", at.to_string())
                .header(
                    "X-Slack-Signature",
                    lucid::slack::inbound::sign(SLACK_SECRET, at, body),
                )
                .header("content-type", "application/json");
            if copy > 0 {
                request = request
                    .header("X-Slack-Retry-Num", copy.to_string())
                    .header("X-Slack-Retry-Reason", "http_timeout");
            }
            request.body(body.clone())
        }
    };
    let response = request.send().await.expect("lucid answers every copy");
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// Sends every delivery `COPIES` times at once, copy k of delivery n to replica
/// (n + k) mod replicas; answers each delivery's answers.
async fn storm(urls: &[String], deliveries: &[Delivery]) -> Vec<Vec<(u16, Value)>> {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(AT_ONCE * COPIES)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let http = &http;
    futures::stream::iter(deliveries.iter().enumerate())
        .map(|(n, delivery)| async move {
            let copies = (0..COPIES).map(|k| send(http, &urls[(n + k) % urls.len()], delivery, k));
            futures::future::join_all(copies).await
        })
        .buffered(AT_ONCE)
        .collect()
        .await
}

/// Every copy 2xx; of a mention's copies exactly one started a session and the others
/// were answered as duplicates; a decoy was ignored. Answers the sessions started.
fn check_answers(deliveries: &[Delivery], answers: &[Vec<(u16, Value)>]) -> HashSet<String> {
    let mut sessions = HashSet::new();
    for (delivery, copies) in deliveries.iter().zip(answers) {
        for (status, body) in copies {
            assert!(
                (200..300).contains(status),
                "a copy answered {status}: {body}"
            );
        }
        if !delivery.mentions() {
            assert!(
                copies.iter().all(|(_, b)| b["ignored"].is_string()),
                "{copies:?}"
            );
            continue;
        }
        let started: Vec<&str> = copies
            .iter()
            .filter_map(|(_, b)| b["session"].as_str())
            .collect();
        let duplicates = copies
            .iter()
            .filter(|(_, b)| b["duplicate"] == true)
            .count();
        assert_eq!(
            (started.len(), duplicates),
            (1, COPIES - 1),
            "copies of one delivery: {copies:?}"
        );
        assert!(sessions.insert(started[0].to_owned()), "one session twice");
    }
    sessions
}

/// What the store holds after the storm.
struct Stored {
    /// Session ids.
    sessions: HashSet<String>,
    /// The distinct deliveries the sessions were made for.
    session_deliveries: usize,
    /// Sessions by state.
    states: BTreeMap<String, i64>,
    /// Deliveries recorded.
    deliveries: i64,
}

async fn stored(database_url: &str) -> Stored {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let mut db = sqlx::AnyConnection::connect(database_url).await.unwrap();
    let rows: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT id, delivery_id FROM sessions")
            .fetch_all(&mut db)
            .await
            .unwrap();
    let states: Vec<(String, i64)> =
        sqlx::query_as("SELECT state, COUNT(*) FROM sessions GROUP BY state")
            .fetch_all(&mut db)
            .await
            .unwrap();
    let deliveries: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM deliveries")
        .fetch_one(&mut db)
        .await
        .unwrap();
    db.close().await.unwrap();
    let distinct: HashSet<&str> = rows.iter().filter_map(|(_, d)| d.as_deref()).collect();
    Stored {
        session_deliveries: distinct.len(),
        sessions: rows.iter().map(|(id, _)| id.clone()).collect(),
        states: states.into_iter().collect(),
        deliveries,
    }
}

/// What lucid did in the threads, as the fakes saw it.
#[derive(Debug, Default, PartialEq)]
struct Acknowledgements {
    /// Per GitHub comment: reactions lucid asked for (POSTs answered 2xx).
    github_reactions: BTreeMap<u64, usize>,
    /// Per GitHub issue: comments lucid wrote.
    github_comments: BTreeMap<u64, usize>,
    /// Per Slack thread (channel, thread ts): messages posted (answered ok).
    slack_posts: BTreeMap<(String, String), usize>,
    /// Per Slack message (channel, ts): reactions added (answered ok).
    slack_reactions: BTreeMap<(String, String), usize>,
}

impl Acknowledgements {
    fn of(lucid: &Lucid) -> Acknowledgements {
        let mut acks = Acknowledgements::default();
        for request in lucid.github.requests() {
            let reaction = request.method == "POST"
                && request.path.ends_with("/reactions")
                && (200..300).contains(&request.status);
            if reaction {
                let comment = request.path.rsplit('/').nth(1).unwrap();
                *acks
                    .github_reactions
                    .entry(comment.parse().unwrap())
                    .or_default() += 1;
            }
        }
        for issue in 1..=GITHUB_MENTIONS + DECOYS {
            let lucids = lucid
                .github
                .comments(REPO, issue)
                .iter()
                .filter(|c| c.author != "ada")
                .count();
            if lucids > 0 {
                acks.github_comments.insert(issue, lucids);
            }
        }
        for call in lucid.slack.calls() {
            if call.response["ok"] != true {
                continue;
            }
            let channel = call.param("channel").unwrap_or_default();
            match call.method.as_str() {
                "chat.postMessage" => {
                    let thread = call.param("thread_ts").unwrap_or_default();
                    *acks.slack_posts.entry((channel, thread)).or_default() += 1;
                }
                "reactions.add" => {
                    let ts = call.param("timestamp").unwrap_or_default();
                    *acks.slack_reactions.entry((channel, ts)).or_default() += 1;
                }
                _ => {}
            }
        }
        acks
    }

    /// Every mentioned thread has its acknowledgement (perhaps more: checked later).
    fn complete(&self) -> bool {
        self.github_reactions.len() as u64 >= GITHUB_MENTIONS
            && self.slack_posts.len() as u64 >= SLACK_MENTIONS
    }

    fn summary(&self) -> String {
        format!(
            "{} GitHub comments reacted to, {} Slack threads posted in",
            self.github_reactions.len(),
            self.slack_posts.len()
        )
    }
}

/// A metric's value from a lucid's `/metrics`.
pub(crate) async fn metric(url: &str, name: &str) -> f64 {
    let text = reqwest::get(format!("{url}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in:\n{text}"))
}

/// A process's peak resident memory, in MiB.
fn peak_rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

/// lucid with sessions kept queued (no model, so no worker) and no per-person or
/// per-place limit, every Slack channel defaulting to acme/calc.
async fn start_lucid(database_url: Option<&str>) -> Lucid {
    let mut settings = vec![
        ("LUCID_LLM_API_KEY", ""),
        ("LUCID_LLM_MODEL", ""),
        ("LUCID_LLM_BASE_URL", ""),
        ("LUCID_MAX_RUNNING_PER_PERSON", "0"),
        ("LUCID_MAX_RUNNING_PER_CHANNEL", "0"),
        ("LUCID_MAX_NEW_PER_PERSON_HOUR", "0"),
        ("LUCID_API_RATE", "0"),
        ("LUCID_SLACK_CHANNEL_REPOS", "*=acme/calc"),
        ("LUCID_LOG", "info"),
    ];
    if let Some(url) = database_url {
        settings.push(("DATABASE_URL", url));
    }
    let lucid = Lucid::start_setting(vec![], &settings).await;
    // Slack's pace, a message a second per channel, and a few 429s besides.
    lucid.slack.enforce_channel_rate(Duration::from_secs(1));
    lucid.slack.rate_limit_next(20, 1);
    lucid
}

/// The storm against `urls` (lucid and its replicas, `pids`), on the store at
/// `database_url`, with every check; `variant` names it in the figures.
async fn storm_and_check(
    lucid: &Lucid,
    urls: &[String],
    pids: &[u32],
    database_url: &str,
    variant: &str,
) {
    let deliveries = deliveries(lucid);
    let began = Instant::now();
    let answers = storm(urls, &deliveries).await;
    let answered = began.elapsed();
    let started = check_answers(&deliveries, &answers);
    assert_eq!(started.len() as u64, GITHUB_MENTIONS + SLACK_MENTIONS);

    // Every thread acknowledged, within the deadline.
    let acknowledged = tokio::time::timeout(ACKNOWLEDGED_WITHIN, async {
        loop {
            let acks = Acknowledgements::of(lucid);
            if acks.complete() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;
    if acknowledged.is_err() {
        panic!(
            "not every thread acknowledged within {ACKNOWLEDGED_WITHIN:?}: {}\n{}",
            Acknowledgements::of(lucid).summary(),
            lucid.log()
        );
    }
    let all_acknowledged = began.elapsed();
    // Nothing more can come once no replica has a follow-up waiting: every request was
    // answered, so no new follow-up starts.
    crate::harness::within("every follow-up to finish", async {
        loop {
            let mut pending = 0.0;
            for url in urls {
                pending += metric(url, "lucid_follow_ups_pending").await;
            }
            if pending == 0.0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    for url in urls {
        assert_eq!(metric(url, "lucid_follow_ups_dropped").await, 0.0);
    }

    // The store: exactly the sessions answered, one per delivery, all still queued
    // (acknowledged, not run).
    let mentions = GITHUB_MENTIONS + SLACK_MENTIONS;
    let store = stored(database_url).await;
    assert_eq!(
        store.sessions, started,
        "the store's sessions are not those answered"
    );
    assert_eq!(store.session_deliveries as u64, mentions);
    assert_eq!(store.deliveries as u64, mentions);
    let queued = BTreeMap::from([("queued".to_owned(), mentions as i64)]);
    assert_eq!(store.states, queued);

    // The threads: one acknowledgement of each kind per mentioned thread, none elsewhere.
    let acks = Acknowledgements::of(lucid);
    let mut expected = Acknowledgements::default();
    for delivery in deliveries.iter().filter(|d| d.mentions()) {
        match delivery {
            Delivery::Github { comment, .. } => {
                expected.github_reactions.insert(*comment, 1);
            }
            Delivery::Slack { channel, ts, .. } => {
                expected
                    .slack_posts
                    .insert((channel.clone(), ts.clone()), 1);
            }
        }
    }
    assert_eq!(acks.github_reactions, expected.github_reactions);
    assert_eq!(
        acks.github_comments, expected.github_comments,
        "comments by lucid"
    );
    assert_eq!(acks.slack_posts, expected.slack_posts);
    assert_eq!(
        acks.slack_reactions, expected.slack_reactions,
        "Slack reactions"
    );
    let reactions = lucid.github.reactions();
    assert_eq!(reactions.len() as u64, GITHUB_MENTIONS);
    assert!(
        reactions.iter().all(|r| r.content == "eyes"),
        "{reactions:?}"
    );
    assert_eq!(lucid.slack.messages().len() as u64, SLACK_MENTIONS);
    assert!(
        lucid.slack.unexpected().is_empty(),
        "{:?}",
        lucid.slack.unexpected()
    );
    assert!(
        lucid.github.unrouted().is_empty(),
        "{:?}",
        lucid.github.unrouted()
    );
    let requests = deliveries.len() * COPIES;
    let slow_downs = lucid
        .slack
        .calls()
        .iter()
        .filter(|c| c.rate_limited)
        .count();
    let peaks: Vec<String> = pids
        .iter()
        .map(|pid| format!("{:.0} MiB", peak_rss_mib(*pid)))
        .collect();
    eprintln!(
        "storm ({variant}): {} deliveries ({} mentions, {} decoys) x {COPIES} copies = \
         {requests} requests answered in {:.2} s ({:.0} deliveries/s, {:.0} requests/s); \
         every thread acknowledged after {:.2} s ({slow_downs} Slack 429s sat out); \
         peak RSS of lucid: {}",
        deliveries.len(),
        GITHUB_MENTIONS + SLACK_MENTIONS,
        2 * DECOYS,
        answered.as_secs_f64(),
        deliveries.len() as f64 / answered.as_secs_f64(),
        requests as f64 / answered.as_secs_f64(),
        all_acknowledged.as_secs_f64(),
        peaks.join(", ")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_redelivery_storm_on_sqlite_makes_one_session_and_one_acknowledgement_each() {
    let lucid = start_lucid(None).await;
    let urls = [lucid.url.clone()];
    let database_url = lucid.database_url();
    storm_and_check(&lucid, &urls, &[lucid.pid()], &database_url, "SQLite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_redelivery_storm_over_two_replicas_on_postgres_makes_one_session_and_one_acknowledgement_each()
 {
    let db = fresh_db(Backend::Postgres).await;
    let database_url = db.url.expose().to_owned();
    let lucid = start_lucid(Some(&database_url)).await;
    let replica = lucid.replica().await;
    let urls = [lucid.url.clone(), replica.url.clone()];
    let pids = [lucid.pid(), replica.pid()];
    storm_and_check(
        &lucid,
        &urls,
        &pids,
        &database_url,
        "PostgreSQL, two replicas",
    )
    .await;
}
