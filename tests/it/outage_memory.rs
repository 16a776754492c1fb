//! A flood of mentions while Slack's API takes connections and never answers: what
//! lucid does after each answer (the acknowledgement in the thread) waits on Slack,
//! and without a bound every one of them would wait in memory. At most
//! `MOST_FOLLOW_UPS` wait; the rest are dropped (the threads catch up from the log
//! when their sessions' workers write them), so memory stays flat.

use crate::rig::{ADA, BOT_USER, CHANNEL, Lucid, slack_message};
use crate::storm_e2e::metric;

/// A server that takes every connection and says nothing, ever.
async fn black_hole() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    url
}

/// `lucid serve`'s resident memory, in MiB.
fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kib / 1024.0
}

/// Sends `count` mentions, each in a thread of its own, `at_once` at a time.
async fn mentions(lucid: &Lucid, from: usize, count: usize, at_once: usize) {
    use futures::StreamExt;
    futures::stream::iter(from..from + count)
        .map(|n| async move {
            let ts = format!("1700100000.{n:06}");
            let text = format!("<@{BOT_USER}> please fix add() #{n}");
            let mut mention = slack_message("app_mention", CHANNEL, ADA, &ts, None, &text);
            mention["event_id"] = format!("EvFlood{n}").into();
            let (status, answer) = lucid.slack_event(&mention, None).await;
            assert_eq!(status, 200, "{answer}");
        })
        .buffer_unordered(at_once)
        .collect::<Vec<()>>()
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn with_slack_silent_a_flood_of_mentions_leaves_memory_flat() {
    let hole = black_hole().await;
    let settings = [
        ("LUCID_SLACK_API_URL", hole.as_str()),
        // One person asks for all of them: no per-person limit here.
        ("LUCID_MAX_RUNNING_PER_PERSON", "0"),
        ("LUCID_MAX_RUNNING_PER_CHANNEL", "0"),
        ("LUCID_MAX_NEW_PER_PERSON_HOUR", "0"),
        ("LUCID_MAX_SESSIONS", "1"),
    ];
    let mut lucid = Lucid::start_setting(vec![], &settings).await;
    mentions(&lucid, 0, 1_500, 64).await;
    let warm = rss_mib(lucid.pid());
    mentions(&lucid, 1_500, 3_500, 64).await;
    let after = rss_mib(lucid.pid());
    let pending = metric(&lucid.url, "lucid_follow_ups_pending").await;
    let dropped = metric(&lucid.url, "lucid_follow_ups_dropped").await;
    eprintln!(
        "RSS after 1,500 mentions {warm:.0} MiB, after 5,000 {after:.0} MiB; \
         {pending} follow-ups waiting, {dropped} dropped"
    );
    assert!(pending <= 1024.0, "{pending} waiting");
    assert!(dropped >= 3_000.0, "only {dropped} dropped");
    assert!(
        after - warm < 48.0,
        "memory grew from {warm:.0} to {after:.0} MiB with Slack silent"
    );
    // Every mention was kept: 5,000 sessions.
    let text = reqwest::get(format!("{}/metrics", lucid.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let sessions: f64 = text
        .lines()
        .filter(|l| l.starts_with("lucid_sessions{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert_eq!(sessions, 5_000.0);
    // A graceful stop would wait on Slack too: this one does not.
    let root = lucid
        .database_url()
        .trim_start_matches("sqlite://")
        .trim_end_matches("/lucid.db")
        .to_owned();
    lucid.kill();
    remove_sandboxes_under(&root).await;
}

/// Removes the sandboxes whose workspaces are under `root` (a killed lucid's).
async fn remove_sandboxes_under(root: &str) {
    use bollard::query_parameters::{ListContainersOptions, RemoveContainerOptions};
    let docker = bollard::Docker::connect_with_defaults().unwrap();
    let filters = std::collections::HashMap::from([(
        "label".to_owned(),
        vec!["lucid.managed=true".to_owned()],
    )]);
    let containers = docker
        .list_containers(Some(ListContainersOptions {
            all: true,
            filters: Some(filters),
            ..Default::default()
        }))
        .await
        .unwrap();
    for container in containers {
        let ours = container
            .labels
            .as_ref()
            .and_then(|l| l.get("lucid.workspace"))
            .is_some_and(|w| w.starts_with(root));
        if let (true, Some(id)) = (ours, container.id) {
            let force = RemoveContainerOptions {
                force: true,
                ..Default::default()
            };
            let _ = docker.remove_container(&id, Some(force)).await;
        }
    }
}
