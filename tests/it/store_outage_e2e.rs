//! The store unavailable for ten seconds under a running `lucid serve`: webhooks
//! answer 503 with Retry-After and keep nothing (the platform sends them again), the
//! same deliveries sent again afterwards make one session each, and a session whose
//! agent was working through the outage waits for the store and finishes. Nothing
//! is left half-written.
//!
//! PostgreSQL goes away behind a proxy of the test's own ([`Plug`]): the shared server
//! stays up for the other tests. SQLite is a file, so it cannot "go down"; what takes
//! it away from lucid in real life is another process holding its write lock (an
//! operator's `sqlite3` shell left in a transaction, a maintenance job, a second
//! program on the same file). Here another connection holds `BEGIN EXCLUSIVE` for ten
//! seconds: lucid can still read (WAL mode) but cannot write anything. Making the
//! file unreadable would not do: lucid runs as root in the tests, and what it has
//! open stays open.

use crate::fake_llm::Reply;
use crate::harness::{Backend, TestDb, fresh_db, on_both_stores, within};
use crate::plug::Plug;
use crate::rig::{
    ADA, BOT_USER, CHANNEL, Lucid, REPO, SECRET, SLACK_SECRET, comment_payload, now_unix,
    slack_message, within_command,
};
use serde_json::Value;
use sqlx::{Connection, Executor};
use std::time::{Duration, Instant};

const OUTAGE: Duration = Duration::from_secs(10);

on_both_stores!(a_ten_second_store_outage_is_answered_503_and_the_running_session_waits_it_out);

/// How the store is taken away from lucid, and where the test reads it directly.
enum Outage {
    Postgres { plug: Plug, db: TestDb },
    Sqlite,
}

impl Outage {
    /// Ready to pull; with the settings lucid needs to go through it.
    async fn set_up(backend: Backend) -> (Outage, Vec<(&'static str, String)>) {
        match backend {
            Backend::Sqlite => (Outage::Sqlite, Vec::new()),
            Backend::Postgres => {
                let db = fresh_db(Backend::Postgres).await;
                let mut url = url::Url::parse(db.url.expose()).unwrap();
                let server = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(5432));
                let server = tokio::net::lookup_host(server)
                    .await
                    .unwrap()
                    .next()
                    .unwrap();
                let plug = Plug::to(server).await;
                url.set_port(Some(plug.addr.port())).unwrap();
                let settings = vec![("DATABASE_URL", url.to_string())];
                (Outage::Postgres { plug, db }, settings)
            }
        }
    }

    /// The store as the test reads it, around any outage.
    fn direct_url(&self, lucid: &Lucid) -> String {
        match self {
            Outage::Postgres { db, .. } => db.url.expose().to_owned(),
            Outage::Sqlite => lucid.database_url(),
        }
    }

    /// Takes the store away; answers what holds it away (SQLite: the lock's holder).
    async fn begin(&self, lucid: &Lucid) -> Option<sqlx::AnyConnection> {
        match self {
            Outage::Postgres { plug, .. } => {
                plug.unplug().await;
                None
            }
            Outage::Sqlite => {
                let mut holder = connect(&lucid.database_url()).await;
                holder.execute("BEGIN EXCLUSIVE").await.unwrap();
                Some(holder)
            }
        }
    }

    async fn end(&self, holder: Option<sqlx::AnyConnection>) {
        match self {
            Outage::Postgres { plug, .. } => plug.plug().await,
            Outage::Sqlite => {
                let mut holder = holder.unwrap();
                holder.execute("ROLLBACK").await.unwrap();
                holder.close().await.unwrap();
            }
        }
    }
}

async fn connect(url: &str) -> sqlx::AnyConnection {
    sqlx::any::install_default_drivers();
    sqlx::AnyConnection::connect(url).await.unwrap()
}

/// An answer to a webhook: its status, Retry-After, body, and how long it took.
struct Answer {
    status: u16,
    retry_after: Option<String>,
    body: Value,
    took: Duration,
}

async fn answer_of(request: reqwest::RequestBuilder) -> Answer {
    let sent = Instant::now();
    let response = within("the webhook's answer", request.send())
        .await
        .unwrap();
    let took = sent.elapsed();
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = response.json().await.unwrap_or(Value::Null);
    Answer {
        status,
        retry_after,
        body,
        took,
    }
}

/// A mention on issue 8, delivered as GitHub does.
async fn github_mention(lucid: &Lucid, payload: &Value) -> Answer {
    let body = serde_json::to_vec(payload).unwrap();
    let signature = lucid::github::inbound::sign(SECRET, &body);
    let request = lucid
        .http
        .post(format!("{}/webhooks/github", lucid.url))
        .header("X-GitHub-Event", "issue_comment")
        .header("X-GitHub-Delivery", "d-outage-2")
        .header("X-Hub-Signature-256", signature)
        .header("content-type", "application/json")
        .body(body);
    answer_of(request).await
}

/// A mention in Slack's channel, sent as Slack does (signed now, as a retry is).
async fn slack_mention(lucid: &Lucid, payload: &Value) -> Answer {
    let body = serde_json::to_vec(payload).unwrap();
    let timestamp = now_unix();
    let signature = lucid::slack::inbound::sign(SLACK_SECRET, timestamp, &body);
    let request = lucid
        .http
        .post(format!("{}/webhooks/slack/events", lucid.url))
        .header("X-Slack-Request-Timestamp", timestamp.to_string())
        .header("X-Slack-Signature", signature)
        .header("content-type", "application/json")
        .body(body);
    answer_of(request).await
}

/// Counts what `sql` counts in the store.
async fn count(url: &str, sql: &'static str) -> i64 {
    let mut conn = connect(url).await;
    let n: i64 = sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap();
    conn.close().await.unwrap();
    n
}

const DELIVERIES_OF_THE_OUTAGE: &str = "SELECT COUNT(*) FROM deliveries \
     WHERE delivery_id IN ('d-outage-2', 'EvOutage2')";

/// Sessions without their first event, logs with gaps, and rows naming sessions
/// that do not exist: whatever a write cut in half would leave.
const HALF_WRITTEN: [&str; 4] = [
    "SELECT COUNT(*) FROM sessions s WHERE NOT EXISTS \
     (SELECT 1 FROM events e WHERE e.session_id = s.id AND e.seq = 1)",
    "SELECT COUNT(*) FROM sessions s WHERE s.last_seq <> \
     (SELECT COUNT(*) FROM events e WHERE e.session_id = s.id)",
    "SELECT COUNT(*) FROM deliveries d WHERE d.session_id IS NOT NULL AND NOT EXISTS \
     (SELECT 1 FROM sessions s WHERE s.id = d.session_id)",
    "SELECT COUNT(*) FROM threads t WHERE NOT EXISTS \
     (SELECT 1 FROM sessions s WHERE s.id = t.session_id)",
];

fn ended(session: &Value) -> bool {
    ["completed", "failed", "cancelled"].contains(&session["state"].as_str().unwrap_or(""))
}

async fn a_ten_second_store_outage_is_answered_503_and_the_running_session_waits_it_out(
    backend: Backend,
) {
    let finish = |id| Reply::tool_call(id, "finish", r#"{"summary": "Done\n\nAs asked."}"#);
    let script = vec![
        // The command ends while the store is away: its output waits to be logged.
        Reply::tool_call("c0", "run", r#"{"command": "sleep 3; echo slept"}"#),
        finish("c1"),
        // The two sessions of the deliveries sent again.
        finish("c2"),
        finish("c3"),
    ];
    let (outage, settings) = Outage::set_up(backend).await;
    let settings: Vec<(&str, &str)> = settings.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let lucid = Lucid::start_setting(script, &settings).await;
    let store = outage.direct_url(&lucid);

    let words = "@lucid please fix add()";
    let comment = lucid.github.add_comment(REPO, 7, "ada", words);
    let first = comment_payload(7, "add() subtracts", comment, "ada", words);
    let (status, answer) = lucid.deliver("issue_comment", "d-outage-1", &first).await;
    assert_eq!(status, 202, "{answer}");
    let running = answer["session"].as_str().unwrap().to_owned();
    within_command(&lucid, &running, "sleep 3").await;

    let comment = lucid.github.add_comment(REPO, 8, "ada", words);
    let on_github = comment_payload(8, "add() is slow", comment, "ada", words);
    let text = format!("<@{BOT_USER}> please fix add()");
    let mut on_slack = slack_message(
        "app_mention",
        CHANNEL,
        ADA,
        "1700300000.000100",
        None,
        &text,
    );
    on_slack["event_id"] = "EvOutage2".into();

    let began = Instant::now();
    let holder = outage.begin(&lucid).await;
    let during = [
        ("GitHub", github_mention(&lucid, &on_github).await),
        ("Slack", slack_mention(&lucid, &on_slack).await),
    ];
    for (platform, answer) in &during {
        eprintln!(
            "{backend:?}: {platform} during the outage: {} in {:?}, Retry-After {:?}",
            answer.status, answer.took, answer.retry_after
        );
        assert_eq!(answer.status, 503, "{platform}: {}", answer.body);
        assert!(answer.retry_after.is_some(), "{platform}: no Retry-After");
        // Within Slack's three seconds, so the platform sees the 503, not a timeout.
        assert!(
            answer.took < Duration::from_secs(3),
            "{platform} waited {:?}",
            answer.took
        );
    }
    tokio::time::sleep(OUTAGE.saturating_sub(began.elapsed())).await;
    outage.end(holder).await;
    let back = Instant::now();
    assert_eq!(count(&store, DELIVERIES_OF_THE_OUTAGE).await, 0);

    // The session that ran through it carries on and finishes, its command logged once.
    let session = lucid
        .until_session(&running, "the session to finish after the outage", ended)
        .await;
    eprintln!(
        "{backend:?}: the session ended {:?} after the store came back",
        back.elapsed()
    );
    assert_eq!(session["state"], "completed", "{session}\n{}", lucid.log());
    let events = lucid.events(&running).await;
    let outputs: Vec<_> = events
        .iter()
        .filter(|e| e["kind"] == "output" && e["text"].as_str().unwrap_or("").contains("slept"))
        .collect();
    assert_eq!(outputs.len(), 1, "{events:#?}");

    // The platforms send the same deliveries again: one session each.
    let github = github_mention(&lucid, &on_github).await;
    assert_eq!(github.status, 202, "{}", github.body);
    let slack = slack_mention(&lucid, &on_slack).await;
    assert_eq!(slack.status, 200, "{}", slack.body);
    for id in [&github.body["session"], &slack.body["session"]] {
        let id = id.as_str().unwrap_or_else(|| panic!("no session in {id}"));
        let session = lucid.until_session(id, "a session sent again", ended).await;
        assert_eq!(session["state"], "completed", "{session}\n{}", lucid.log());
    }
    assert_eq!(lucid.sessions().await.len(), 3);
    assert_eq!(count(&store, DELIVERIES_OF_THE_OUTAGE).await, 2);
    for sql in HALF_WRITTEN {
        assert_eq!(count(&store, sql).await, 0, "{sql}");
    }
}
