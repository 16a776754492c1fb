//! A session's last thread write outlives the lucid that owed it: Slack goes down
//! once the session is acknowledged (or once its first moment is in the thread), the
//! session runs to its end meanwhile, and while
//! lucid still tries to write that end, lucid is killed (SIGKILL). Then Slack comes
//! back. On SQLite the same lucid is started again; on PostgreSQL a second replica,
//! already running when the first dies, is left. Either writes the end from the event
//! log: one status message in its final state, each moment once, the ending once, the
//! pull request once.

use crate::fake_llm::Reply;
use crate::fake_slack::{Down, SlackMessage};
use crate::harness::{Backend, TestDb, fresh_db};
use crate::platform_outage_e2e::{assert_slack_thread_whole, state, until, until_ended};
use crate::rig::{ADA, BOT_USER, CHANNEL, Lucid, REPO, fixing_script, slack_message};
use sqlx::Connection;
use std::time::{Duration, Instant};

/// A short lease, so that the dead lucid's hold on the end runs out seconds after.
const LEASE: &str = "3s";

/// When Slack goes down.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outage {
    /// Right after the acknowledgement.
    FromTheAck,
    /// Right after the first reply (a moment) landed: the restarted lucid must not
    /// post it again.
    AfterTheFirstReply,
    /// Only edits of the status message fail, from the acknowledgement on: the ending
    /// lands and the status message's final state does not; the restarted lucid
    /// must not say the ending again.
    StatusEditsOnly,
}

/// The model's side: for [`Outage::AfterTheFirstReply`], a failing command and a
/// pause first, so that its moment is in the thread alone before the rest comes.
fn script(outage: Outage) -> Vec<Reply> {
    let mut script = match outage {
        Outage::FromTheAck | Outage::StatusEditsOnly => Vec::new(),
        Outage::AfterTheFirstReply => vec![
            Reply::tool_call("c0", "run", r#"{"command": "python3 test_calc.py"}"#),
            Reply::tool_call("c0b", "run", r#"{"command": "sleep 3"}"#),
        ],
    };
    script.extend(fixing_script());
    script
}

/// Ends not yet in their thread, as lucid's store has them.
const PENDING_ENDS: &str = "SELECT COUNT(*) FROM pending_thread_ends";
/// Endings said in a thread, as lucid's store marks them.
const ENDINGS_MARKED: &str = "SELECT COUNT(*) FROM thread_messages WHERE purpose = 'ended'";

/// Polls lucid's store until `sql` counts `want`.
async fn until_counted(store_url: &str, sql: &'static str, want: i64) {
    sqlx::any::install_default_drivers();
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let mut conn = sqlx::AnyConnection::connect(store_url).await.unwrap();
        let n: i64 = sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap();
        let _ = conn.close().await;
        if n == want {
            return;
        }
        assert!(Instant::now() < deadline, "{sql}: {n}, not {want}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn shown(message: &SlackMessage) -> String {
    format!("{} {}", message.text, message.blocks)
}

fn is_final(status: &SlackMessage) -> bool {
    shown(status).contains("Done") && !shown(status).contains("\"action_id\":\"stop\"")
}

async fn the_end_outlives_its_lucid(backend: Backend, outage: Outage, ts: &str) {
    let db: Option<TestDb> = match backend {
        Backend::Sqlite => None,
        Backend::Postgres => Some(fresh_db(Backend::Postgres).await),
    };
    let mut settings = vec![("LUCID_LEASE", LEASE.to_owned())];
    if let Some(db) = &db {
        settings.push(("DATABASE_URL", db.url.expose().to_owned()));
    }
    let settings: Vec<(&str, &str)> = settings.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut lucid = Lucid::start_setting(script(outage), &settings).await;
    let store_url = match &db {
        Some(db) => db.url.expose().to_owned(),
        None => lucid.database_url(),
    };
    let text = format!("<@{BOT_USER}> please fix add()");
    let mention = slack_message("app_mention", CHANNEL, ADA, ts, None, &text);
    let (status, answer) = lucid.slack_event(&mention, None).await;
    assert_eq!(status, 200, "{answer}");
    let id = answer["session"].as_str().unwrap().to_owned();
    let ack = lucid
        .slack
        .wait_until("the acknowledgement", |s| {
            s.thread(CHANNEL, ts).first().cloned()
        })
        .await;

    let first_reply = match outage {
        Outage::FromTheAck => {
            lucid.slack.outage.begin(Down::Failing);
            None
        }
        Outage::AfterTheFirstReply => {
            // Armed once the worker edits the status message: the acknowledgement's
            // own post was answered by then, and the next post is a reply.
            lucid
                .slack
                .wait_until("the status taken over", |s| {
                    s.calls_to("chat.update").first().cloned()
                })
                .await;
            let post = "/api//chat.postMessage";
            lucid.slack.outage.begin_after("POST", post, Down::Failing);
            let reply = lucid
                .slack
                .wait_until("the first reply", |s| s.thread(CHANNEL, ts).get(1).cloned())
                .await;
            assert!(!reply.text.contains("*Done.*"), "{reply:#?}");
            Some(reply)
        }
        Outage::StatusEditsOnly => {
            lucid
                .slack
                .outage
                .begin_on(Down::Failing, "/api//chat.update");
            None
        }
    };
    let session = until_ended(&lucid, &id).await;
    let ended = Instant::now();
    assert_eq!(state(&session), "completed", "{session}\n{}", lucid.log());
    let pr_url = session["pr_url"].as_str().expect("a PR url").to_owned();
    // lucid tries to write the end, and Slack turns it away.
    until(
        "a write of the end turned away",
        Duration::from_secs(30),
        || {
            let tries = lucid.slack.outage.turned_away();
            tries
                .iter()
                .any(|t| t.at > ended && t.path.contains("/chat."))
                .then_some(())
        },
    )
    .await;

    // On PostgreSQL the replica that writes the end runs before the crash, and does
    // not take the end while the first lucid holds it.
    let replica = match backend {
        Backend::Postgres => Some(lucid.replica().await),
        Backend::Sqlite => None,
    };
    if outage == Outage::StatusEditsOnly {
        lucid
            .slack
            .wait_until("the ending", |s| {
                let thread = s.thread(CHANNEL, ts);
                thread
                    .iter()
                    .any(|m| m.text.contains("*Done.*"))
                    .then_some(())
            })
            .await;
        // Killed once lucid knows the ending landed (before, the ending is said
        // again: a write and its mark are not one).
        until_counted(&store_url, ENDINGS_MARKED, 1).await;
    }
    lucid.kill();
    let said_while_down = lucid.slack.thread(CHANNEL, ts);
    let status_while_down = lucid.slack.message(CHANNEL, &ack.ts).unwrap();
    assert!(!is_final(&status_while_down), "{status_while_down:#?}");
    match outage {
        Outage::FromTheAck => assert_eq!(said_while_down.len(), 1, "{said_while_down:#?}"),
        Outage::AfterTheFirstReply => {
            assert_eq!(said_while_down.len(), 2, "{said_while_down:#?}")
        }
        Outage::StatusEditsOnly => {}
    }
    lucid.slack.outage.end();
    match replica {
        Some(replica) => lucid.fail_over(replica),
        None => lucid.restart().await,
    }

    until("the end in the thread", Duration::from_secs(40), || {
        let thread = lucid.slack.thread(CHANNEL, ts);
        let status = lucid.slack.message(CHANNEL, &ack.ts)?;
        let done = thread
            .iter()
            .any(|m| m.blocks.is_null() && m.text.contains("*Done.*"))
            && is_final(&status);
        done.then_some(())
    })
    .await;
    // The last write landed whole: nothing more comes.
    until_counted(&store_url, PENDING_ENDS, 0).await;
    let thread = lucid.slack.thread(CHANNEL, ts);

    // One status message edited to its end; every moment, the ending and the PR once.
    assert_slack_thread_whole(&thread, &ack.ts, &lucid.events(&id).await, &pr_url);
    assert!(
        lucid.slack.unexpected().is_empty(),
        "{:#?}",
        lucid.slack.unexpected()
    );
    assert_eq!(lucid.github.pulls(REPO).len(), 1);
    if let Some(first) = first_reply {
        assert_eq!(thread[1].ts, first.ts, "{thread:#?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn killed_while_the_end_waits_for_slack_the_restarted_lucid_writes_it() {
    the_end_outlives_its_lucid(Backend::Sqlite, Outage::FromTheAck, "1700000601.000100").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn killed_after_a_first_moment_the_restarted_lucid_writes_the_rest_of_the_thread_once() {
    the_end_outlives_its_lucid(
        Backend::Sqlite,
        Outage::AfterTheFirstReply,
        "1700000603.000100",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn killed_with_the_ending_said_and_the_status_not_the_restarted_lucid_says_it_once() {
    the_end_outlives_its_lucid(
        Backend::Sqlite,
        Outage::StatusEditsOnly,
        "1700000604.000100",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn killed_while_the_end_waits_for_slack_the_other_replica_writes_it() {
    the_end_outlives_its_lucid(Backend::Postgres, Outage::FromTheAck, "1700000602.000100").await;
}
