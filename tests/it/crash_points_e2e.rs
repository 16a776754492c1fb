//! `lucid serve` killed (SIGKILL) at each point of a session where a crash hurts:
//! while its sandbox is being provisioned, in the middle of a command, in the middle
//! of the model's streamed answer, and while publishing, after the push and before
//! the pull request. On SQLite the same lucid is started again; on PostgreSQL a
//! second replica, already running when the first dies, takes over. Each time the
//! session is taken over once its lease runs out and ends with its final status in
//! its thread; the dead run's sandbox is reaped; the thread shows one status message
//! and one pull request.

use crate::acp_e2e::containers_of;
use crate::fake_llm::Reply;
use crate::harness::{Backend, TestDb, fresh_db, within};
use crate::rig::{Lucid, REPO, comment_payload, fixing_script};
use std::time::Duration;

/// A short lease, so that a takeover comes seconds after the crash.
const LEASE: &str = "4s";

#[derive(Clone, Copy, Debug)]
enum Point {
    /// The repository's clone hangs (GitHub never answers it).
    Provisioning,
    /// A slow command runs in the sandbox.
    MidCommand,
    /// The model's answer stops half way through its stream.
    ModelStream,
    /// The branch is pushed; GitHub never answers the pull request's creation.
    Publishing,
}

fn script(point: Point) -> Vec<Reply> {
    let mut script = match point {
        Point::MidCommand => vec![Reply::tool_call(
            "c0",
            "run",
            r#"{"command": "sleep 30; echo slept"}"#,
        )],
        Point::ModelStream => vec![
            Reply::tool_call("c0", "run", r#"{"command": "ls"}"#)
                .saying("Looking around first.")
                .stall_after(2),
        ],
        Point::Provisioning | Point::Publishing => Vec::new(),
    };
    script.extend(fixing_script());
    // The run that takes over after a publish has nothing left to do.
    if let Point::Publishing = point {
        script.push(Reply::tool_call(
            "c5",
            "finish",
            r#"{"summary": "Make add() add\n\nIt subtracted."}"#,
        ));
    }
    script
}

/// Waits until the session is at `point`.
async fn reached(lucid: &Lucid, id: &str, point: Point) {
    match point {
        Point::Provisioning => {
            lucid
                .github
                .wait_until("the clone to hang", |g| {
                    g.held()
                        .iter()
                        .any(|h| h.contains(".git/info/refs"))
                        .then_some(())
                })
                .await
        }
        Point::MidCommand => crate::rig::within_command(lucid, id, "sleep 30").await,
        Point::ModelStream => {
            within("the stream to stall", lucid.llm.until_a_stream_stalls()).await
        }
        Point::Publishing => {
            lucid
                .github
                .wait_until("the pull request's creation to hang", |g| {
                    g.held().iter().any(|h| h.ends_with("/pulls")).then_some(())
                })
                .await;
            // Pushed before.
            let pushes = lucid
                .github
                .requests()
                .iter()
                .filter(|r| {
                    r.git_service.as_deref() == Some("git-receive-pack") && r.method == "POST"
                })
                .count();
            assert_eq!(pushes, 1, "{:#?}", lucid.github.requests());
        }
    }
}

async fn killed_at(point: Point, backend: Backend) {
    let db: Option<TestDb> = match backend {
        Backend::Sqlite => None,
        Backend::Postgres => Some(fresh_db(Backend::Postgres).await),
    };
    let mut settings = vec![
        ("LUCID_LEASE", LEASE.to_owned()),
        ("LUCID_GITHUB_EDIT_INTERVAL", "100ms".to_owned()),
    ];
    if let Some(db) = &db {
        settings.push(("DATABASE_URL", db.url.expose().to_owned()));
    }
    let settings: Vec<(&str, &str)> = settings.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut lucid = Lucid::start_setting(script(point), &settings).await;
    match point {
        Point::Provisioning => lucid
            .github
            .hold_next("GET", &format!("/{REPO}.git/info/refs")),
        Point::Publishing => lucid
            .github
            .hold_next("POST", &format!("/repos/{REPO}/pulls")),
        Point::MidCommand | Point::ModelStream => {}
    }
    let words = "@lucid please fix add()";
    let comment = lucid.github.add_comment(REPO, 7, "ada", words);
    let payload = comment_payload(7, "add() subtracts", comment, "ada", words);
    let (status, answer) = lucid
        .deliver("issue_comment", "d-crash-point", &payload)
        .await;
    assert_eq!(status, 202, "{answer}");
    let id = answer["session"].as_str().unwrap().to_owned();
    reached(&lucid, &id, point).await;
    if let Point::MidCommand | Point::ModelStream | Point::Publishing = point {
        assert_eq!(containers_of(&id).await, 1, "{point:?}");
    }

    // On PostgreSQL the replica that takes over is running before the crash.
    let replica = match backend {
        Backend::Postgres => Some(lucid.replica().await),
        Backend::Sqlite => None,
    };
    lucid.kill();
    match replica {
        Some(replica) => lucid.fail_over(replica),
        None => lucid.restart().await,
    }
    let ended = tokio::time::timeout(Duration::from_secs(120), async {
        loop {
            let session = lucid.api(&format!("/sessions/{id}")).await;
            let state = session["state"].as_str().unwrap_or("").to_owned();
            if ["completed", "failed", "cancelled"].contains(&state.as_str()) {
                return session;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await
    .unwrap_or_else(|_| {
        panic!(
            "{point:?}: not taken over within 2 minutes:\n{}",
            lucid.log()
        )
    });
    assert_eq!(
        ended["state"],
        "completed",
        "{point:?}: {ended}\n{}",
        lucid.log()
    );

    // One status comment, edited to its end, saying so; one pull request, linked.
    let pulls = lucid.github.pulls(REPO);
    assert_eq!(pulls.len(), 1, "{point:?}");
    let link = format!("/pull/{}", pulls[0].number);
    // The status is edited after the log says the session ended, so it may come just
    // after.
    lucid
        .github
        .wait_until(&format!("{point:?}: the link in the status"), |g| {
            g.comments(REPO, 7)
                .iter()
                .any(|c| c.author != "ada" && c.body.contains(&link))
                .then_some(())
        })
        .await;
    let comments = lucid.github.comments(REPO, 7);
    let statuses: Vec<_> = comments.iter().filter(|c| c.author != "ada").collect();
    assert_eq!(statuses.len(), 1, "{point:?}: {comments:#?}");
    assert_eq!(pulls[0].title, "Make add() add", "{point:?}");
    // The branch holds the fix and every other file as it was: a run that took over
    // changes what the dead one left, never loses it.
    let branch = pulls[0].head.clone();
    let changed = lucid.github.git(
        REPO,
        &[
            "diff",
            "--name-status",
            &format!("{}...{branch}", pulls[0].base),
        ],
    );
    assert_eq!(changed.trim(), "M\tcalc.py", "{point:?}");
    let calc = lucid
        .github
        .git(REPO, &["show", &format!("{branch}:calc.py")]);
    assert!(calc.contains("return a + b"), "{point:?}: {calc}");
    // Every sandbox gone: the dead run's and the one the session ended with.
    within("the sandboxes to be reaped", async {
        while containers_of(&id).await > 0 {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;
}

mod sqlite {
    use super::{Point, killed_at};
    use crate::harness::Backend;

    #[tokio::test(flavor = "multi_thread")]
    async fn killed_while_provisioning_the_restarted_lucid_finishes_the_session() {
        killed_at(Point::Provisioning, Backend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn killed_mid_command_the_restarted_lucid_finishes_the_session() {
        killed_at(Point::MidCommand, Backend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn killed_mid_stream_the_restarted_lucid_finishes_the_session() {
        killed_at(Point::ModelStream, Backend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn killed_after_the_push_the_restarted_lucid_opens_one_pull_request() {
        killed_at(Point::Publishing, Backend::Sqlite).await;
    }
}

mod postgres {
    use super::{Point, killed_at};
    use crate::harness::Backend;

    #[tokio::test(flavor = "multi_thread")]
    async fn killed_while_provisioning_the_other_replica_finishes_the_session() {
        killed_at(Point::Provisioning, Backend::Postgres).await;
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn killed_mid_command_the_other_replica_finishes_the_session() {
        killed_at(Point::MidCommand, Backend::Postgres).await;
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn killed_mid_stream_the_other_replica_finishes_the_session() {
        killed_at(Point::ModelStream, Backend::Postgres).await;
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn killed_after_the_push_the_other_replica_opens_one_pull_request() {
        killed_at(Point::Publishing, Backend::Postgres).await;
    }
}
