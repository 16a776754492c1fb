//! Per-person and per-place limits: counted in the store on either backend, and
//! applied end to end through a platform's real route (the toy platform in the real
//! `lucid serve`, in process): a request past a limit is answered in its thread once,
//! recorded (a redelivery says nothing again), and starts nothing; words in a
//! session's thread are never limited.

use crate::fake_github::FakeGithub;
use crate::harness::{
    Backend, DEADLINE, TestDb, docker_host, fresh_db, migrated_store, on_both_stores, trigger_in,
    within,
};
use crate::rig::{CALC, REPO, TEST, TOKEN};
use crate::toy::chat::ToyChat;
use crate::toy::{ADA, ROOM, deliver_event, posted, toy_platform, toychat};
use lucid::chat::ChatPlatform;
use lucid::core::{Limits, Platform, SessionState, ThreadRef, Timestamp};
use lucid::store::Recorded;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

const API_TOKEN: &str = "limits-e2e-api-token-0123456789";

on_both_stores!(
    the_store_counts_a_persons_and_a_places_live_and_recent_sessions,
    a_request_past_a_limit_is_answered_once_and_starts_nothing,
);

fn slack(channel: &str, ts: &str) -> ThreadRef {
    ThreadRef::Slack {
        team: "T1".into(),
        channel: channel.into(),
        thread_ts: ts.into(),
    }
}

async fn the_store_counts_a_persons_and_a_places_live_and_recent_sessions(backend: Backend) {
    let (store, _db) = migrated_store(backend).await;
    let mut made = Vec::new();
    // Ada: two in C1, one in C2; Bob: one in C1.
    for (i, (channel, author)) in [("C1", "ada"), ("C1", "ada"), ("C2", "ada"), ("C1", "bob")]
        .into_iter()
        .enumerate()
    {
        let mut trigger = trigger_in(slack(channel, &format!("{i}.0")), &format!("d{i}"));
        trigger.author.id = author.into();
        let Recorded::Created(session) = store.record_trigger(trigger).await.unwrap() else {
            panic!("recorded twice");
        };
        made.push(*session);
    }
    let limits = Limits {
        running_per_person: 5,
        running_per_place: 5,
        new_per_person_hour: 2,
    };
    let now = Timestamp::now();
    let busy = store
        .busy(&Platform::SLACK, "ada", Some("T1/C1"), limits, now)
        .await
        .unwrap();
    assert_eq!((busy.person_running, busy.place_running), (3, 3));
    // The newest first, no more than the hour's limit.
    let newest: Vec<Timestamp> = made[1..3].iter().rev().map(|s| s.created_at).collect();
    assert_eq!(busy.person_recent, newest);
    // A person is a person on one platform.
    let elsewhere = store
        .busy(&Platform::GITHUB, "ada", Some("T1/C1"), limits, now)
        .await
        .unwrap();
    assert_eq!((elsewhere.person_running, elsewhere.place_running), (0, 0));

    // A finished session no longer counts as running, but still as asked for.
    store
        .transition(made[0].id, SessionState::Cancelled, None, None)
        .await
        .unwrap();
    let busy = store
        .busy(&Platform::SLACK, "ada", Some("T1/C1"), limits, now)
        .await
        .unwrap();
    assert_eq!((busy.person_running, busy.place_running), (2, 2));
    assert_eq!(busy.person_recent.len(), 2);
    // An hour later none is recent.
    let later = now.plus(std::time::Duration::from_secs(3601));
    let busy = store
        .busy(&Platform::SLACK, "ada", Some("T1/C2"), limits, later)
        .await
        .unwrap();
    assert_eq!((busy.place_running, busy.person_recent.len()), (1, 0));
}

/// `lucid serve` in this process with the toy platform, on `db`, with no model (so
/// sessions stay queued: not finished, so running for the limits).
struct Served {
    url: String,
    chat: ToyChat,
    http: reqwest::Client,
    shutdown: CancellationToken,
    serving: tokio::task::JoinHandle<anyhow::Result<()>>,
    _github: FakeGithub,
    _db: TestDb,
    _dir: tempfile::TempDir,
}

impl Served {
    async fn start(backend: Backend, extra: &[(&str, &str)]) -> Served {
        let github = FakeGithub::start("lucid").await;
        github.accept_token(TOKEN);
        github.add_repo(REPO, &[("calc.py", CALC), ("test_calc.py", TEST)]);
        let chat = toychat().await;
        let db = fresh_db(backend).await;
        let dir = tempfile::tempdir().unwrap();
        let mut env: BTreeMap<String, String> = [
            ("LUCID_LISTEN", "127.0.0.1:0".to_owned()),
            ("DATABASE_URL", db.url.expose().to_owned()),
            ("DOCKER_HOST", docker_host()),
            ("LUCID_API_TOKEN", API_TOKEN.to_owned()),
            (
                "LUCID_WORKSPACES_DIR",
                dir.path().join("workspaces").display().to_string(),
            ),
            ("LUCID_SANDBOX_POOL_SIZE", "0".to_owned()),
            ("LUCID_GITHUB_TOKEN", TOKEN.to_owned()),
            ("LUCID_GITHUB_WEBHOOK_SECRETS", "github-secret".to_owned()),
            ("LUCID_GITHUB_API_URL", github.origin.clone()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        for (k, v) in extra {
            env.insert((*k).to_owned(), (*v).to_owned());
        }
        let settings = lucid::config::Settings::load(&env, None).expect("valid settings");
        let toy: Arc<dyn ChatPlatform> = toy_platform(&chat, REPO);
        let shutdown = CancellationToken::new();
        let stop = shutdown.clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let serving = tokio::spawn(lucid::serve::run_on(
            listener,
            settings,
            move |registry| registry.add_platform(toy),
            async move { stop.cancelled().await },
        ));
        Served {
            url: format!("http://{address}"),
            chat,
            http: reqwest::Client::new(),
            shutdown,
            serving,
            _github: github,
            _db: db,
            _dir: dir,
        }
    }

    /// Ada says `text` in ROOM (in `thread`, else as a new message); the answer.
    async fn say(&self, thread: Option<&str>, text: &str) -> (String, Value) {
        let message = self.chat.post_as(ADA, ROOM, thread, text);
        let event = posted(&self.chat, &format!("ev-{message}"), &message);
        let (status, answer) = deliver_event(&self.url, &event).await;
        assert_eq!(status, 200, "{answer}");
        (message, answer)
    }

    async fn session(&self, id: &str) -> Value {
        let response = self
            .http
            .get(format!("{}/api/v1/sessions/{id}", self.url))
            .bearer_auth(API_TOKEN)
            .send();
        within("the session", response)
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    async fn sessions(&self) -> usize {
        let response = self
            .http
            .get(format!("{}/api/v1/sessions", self.url))
            .bearer_auth(API_TOKEN)
            .send();
        let body: Value = within("the sessions", response)
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        body["sessions"].as_array().map_or(0, Vec::len)
    }

    /// Ada stops the session of the thread `root`; waits until it is cancelled.
    async fn stop_session(&self, root: &str, id: &str) {
        let (_, answer) = self.say(Some(root), "@lucid stop").await;
        assert_eq!(answer["as"], json!("stop"), "{answer}");
        within("the session to be cancelled", async {
            while self.session(id).await["state"] != json!("cancelled") {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        })
        .await;
    }

    /// The one thing lucid said in the thread `root`, once said.
    async fn reply_in(&self, root: &str) -> String {
        let said = self
            .chat
            .wait_until("lucid's answer in the thread", |c| {
                let said = c.said_by_bot(ROOM, root);
                (!said.is_empty()).then_some(said)
            })
            .await;
        assert_eq!(said.len(), 1, "{said:#?}");
        said[0].text.clone()
    }

    async fn stop(self) {
        self.shutdown.cancel();
        let stopped = tokio::time::timeout(DEADLINE, self.serving)
            .await
            .expect("lucid did not stop");
        stopped.unwrap().expect("lucid stopped with an error");
    }
}

fn started(answer: &Value) -> String {
    answer["session"]
        .as_str()
        .unwrap_or_else(|| panic!("no session started: {answer}"))
        .to_owned()
}

async fn a_request_past_a_limit_is_answered_once_and_starts_nothing(backend: Backend) {
    let lucid = Served::start(
        backend,
        &[
            ("LUCID_MAX_RUNNING_PER_PERSON", "2"),
            ("LUCID_MAX_NEW_PER_PERSON_HOUR", "3"),
        ],
    )
    .await;
    let (first_root, first) = lucid.say(None, "@lucid please fix add()").await;
    let first = started(&first);
    let (second_root, second) = lucid.say(None, "@lucid and the docs").await;
    let second = started(&second);

    // A third while two run: the answer says which limit, in the thread, once.
    let (third_root, third) = lucid.say(None, "@lucid and the tests").await;
    assert_eq!(
        third,
        json!({"refused": "the author has 2 sessions running, their limit"})
    );
    let reply = lucid.reply_in(&third_root).await;
    assert_eq!(
        reply,
        "[@ada] You have 2 sessions running; ask again when one ends."
    );
    let again = posted(&lucid.chat, &format!("ev-{third_root}"), &third_root);
    let (status, again) = deliver_event(&lucid.url, &again).await;
    assert_eq!((status, again), (200, json!({"duplicate": true})));
    assert_eq!(lucid.sessions().await, 2);

    // Words in a running session's thread are not limited.
    let (_, more) = lucid.say(Some(&first_root), "@lucid also the README").await;
    assert_eq!(
        (&more["session"], &more["as"]),
        (&json!(first), &json!("follow-up")),
        "{more}"
    );

    // One ends: one more may start, the third of the hour.
    lucid.stop_session(&first_root, &first).await;
    let (_, fourth) = lucid.say(None, "@lucid and the tests, now").await;
    started(&fourth);

    // Another ends, but three were asked for in the hour: the answer says when.
    lucid.stop_session(&second_root, &second).await;
    let (fifth_root, fifth) = lucid.say(None, "@lucid one more thing").await;
    assert!(
        fifth["refused"]
            .as_str()
            .is_some_and(|r| r.starts_with("the author asked for 3 new sessions in the last hour")),
        "{fifth}"
    );
    let created = lucid.session(&first).await["created_at"]
        .as_str()
        .unwrap()
        .to_owned();
    let reply = lucid.reply_in(&fifth_root).await;
    assert_eq!(
        reply,
        format!(
            "[@ada] You have asked for 3 new sessions in the last hour; ask again after {}.",
            an_hour_after(&created)
        )
    );
    assert_eq!(lucid.sessions().await, 3);

    // lucid said nothing else anywhere: the two answers only.
    let bot = lucid.chat.bot().to_owned();
    let said: Vec<_> = lucid
        .chat
        .messages()
        .into_iter()
        .filter(|m| m.author == bot)
        .collect();
    assert_eq!(said.len(), 2, "{said:#?}");
    assert!(
        lucid.chat.refused().is_empty(),
        "{:#?}",
        lucid.chat.refused()
    );
    lucid.stop().await;
}

/// `created` (RFC 3339) plus an hour, as `HH:MM UTC`, rounded up to the minute.
fn an_hour_after(created: &str) -> String {
    use time::format_description::well_known::Rfc3339;
    let at = time::OffsetDateTime::parse(created, &Rfc3339).unwrap() + time::Duration::HOUR;
    let whole = at.replace_second(0).unwrap().replace_nanosecond(0).unwrap();
    let at = if whole == at {
        at
    } else {
        whole + time::Duration::MINUTE
    };
    format!("{:02}:{:02} UTC", at.hour(), at.minute())
}
