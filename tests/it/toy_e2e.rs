//! The toy platform end to end: the real `lucid serve` (in process, through
//! `serve::run_with`, the platform added to its registry from outside), configured
//! from an environment like any deployment, with GitHub as the forge (the fake
//! GitHub, real git over HTTP), the model on the fake OpenAI server, and real Docker
//! sandboxes. ToyChat is the place people ask.

use crate::fake_github::FakeGithub;
use crate::fake_llm::FakeLlm;
use crate::harness::{DEADLINE, docker_host, within};
use crate::rig::{CALC, LLM_KEY, REPO, TEST, TOKEN, fixing_script};
use crate::toy::chat::ToyChat;
use crate::toy::platform::thread_of;
use crate::toy::{
    ADA, OLD_TOY_SECRET, ROOM, TOY_SECRET, TOY_TOKEN, deliver, deliver_event, linking, posted,
    toy_platform, toychat,
};
use lucid::chat::ChatPlatform;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use tokio_util::sync::CancellationToken;
use tracing::instrument::WithSubscriber;
use tracing_subscriber::Layer;
use tracing_subscriber::layer::SubscriberExt;

const API_TOKEN: &str = "toy-e2e-api-token-0123456789";

/// `lucid serve` in this process, the toy platform registered.
struct Served {
    url: String,
    github: FakeGithub,
    chat: ToyChat,
    llm: FakeLlm,
    http: reqwest::Client,
    log: Arc<Mutex<Vec<String>>>,
    shutdown: CancellationToken,
    serving: tokio::task::JoinHandle<anyhow::Result<()>>,
    _dir: tempfile::TempDir,
}

impl Served {
    async fn start() -> Served {
        let github = FakeGithub::start("lucid").await;
        github.accept_token(TOKEN);
        github.add_repo(REPO, &[("calc.py", CALC), ("test_calc.py", TEST)]);
        let chat = toychat().await;
        let llm = FakeLlm::start(fixing_script()).await;
        let dir = tempfile::tempdir().unwrap();
        let env: BTreeMap<String, String> = [
            ("LUCID_LISTEN", "127.0.0.1:0".to_owned()),
            (
                "DATABASE_URL",
                format!("sqlite://{}/lucid.db", dir.path().display()),
            ),
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
            ("LUCID_LLM_BASE_URL", llm.base_url.clone()),
            ("LUCID_LLM_API_KEY", LLM_KEY.to_owned()),
            ("LUCID_LLM_MODEL", "fake-model".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let settings = lucid::config::Settings::load(&env, None).expect("valid settings");

        // lucid's log is kept, to read what it said.
        let log = Arc::new(Mutex::new(Vec::new()));
        let capture = Capture { log: log.clone() }.with_filter(
            tracing_subscriber::filter::Targets::new()
                .with_target("lucid", tracing::Level::DEBUG)
                .with_default(tracing::Level::WARN),
        );
        let subscriber = tracing_subscriber::registry().with(capture);
        let toy: Arc<dyn ChatPlatform> = toy_platform(&chat, REPO);
        let shutdown = CancellationToken::new();
        let stop = shutdown.clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let serving = tokio::spawn(
            lucid::serve::run_on(
                listener,
                settings,
                move |registry| registry.add_platform(toy),
                async move { stop.cancelled().await },
            )
            .with_subscriber(subscriber),
        );
        Served {
            url: format!("http://{address}"),
            github,
            chat,
            llm,
            http: reqwest::Client::new(),
            log,
            shutdown,
            serving,
            _dir: dir,
        }
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    async fn api(&self, path: &str) -> Value {
        let response = within(
            path,
            self.http
                .get(format!("{}/api/v1{path}", self.url))
                .bearer_auth(API_TOKEN)
                .send(),
        )
        .await
        .unwrap();
        response.json().await.unwrap()
    }

    async fn sessions(&self) -> Vec<Value> {
        self.api("/sessions").await["sessions"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Polls the API (with the test deadline) until `check` accepts the session.
    async fn until_session(&self, id: &str, what: &str, check: impl Fn(&Value) -> bool) -> Value {
        within(what, async {
            loop {
                let session = self.api(&format!("/sessions/{id}")).await;
                if check(&session) {
                    return session;
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        })
        .await
    }

    /// Stops lucid as SIGTERM would, and waits for it to finish.
    async fn stop(self) {
        self.shutdown.cancel();
        let stopped = tokio::time::timeout(DEADLINE, self.serving)
            .await
            .expect("lucid did not stop");
        stopped.unwrap().expect("lucid stopped with an error");
    }
}

/// Keeps lucid's log lines.
struct Capture {
    log: Arc<Mutex<Vec<String>>>,
}

#[derive(Default)]
struct Fields(Vec<(String, String)>);

impl tracing::field::Visit for Fields {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.push((field.name().to_owned(), format!("{value:?}")));
    }
}

impl<S: tracing::Subscriber> Layer<S> for Capture {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let line = fields
            .0
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect::<Vec<_>>()
            .join(" ");
        self.log.lock().unwrap().push(format!(
            "{} {}: {line}",
            event.metadata().level(),
            event.metadata().target()
        ));
    }
}

fn state(session: &Value) -> &str {
    session["state"].as_str().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_toychat_mention_becomes_a_pull_request_linked_in_its_thread() {
    let lucid = Served::start().await;
    let chat = &lucid.chat;
    let mention = chat.post_as(ADA, ROOM, None, "@lucid please fix add()");
    let event = posted(chat, "ev-e2e-1", &mention);

    // A forged delivery first: 401, nothing stored, nothing said.
    let forged = chat.post_as(ADA, ROOM, None, "@lucid delete the repository");
    let body = serde_json::to_vec(&posted(chat, "ev-forged", &forged)).unwrap();
    let (status, answer) = deliver(&lucid.url, Some("not-the-secret"), body).await;
    assert_eq!(status, 401, "{answer}");
    assert!(answer["error"].is_string(), "{answer}");
    // A malformed one: 400 with the reason.
    let mut broken = event.clone();
    broken["message"].as_object_mut().unwrap().remove("text");
    let (status, answer) = deliver_event(&lucid.url, &broken).await;
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["error"].as_str().unwrap().contains("text"),
        "{answer}"
    );
    assert!(lucid.sessions().await.is_empty());

    // The mention: a session. ToyChat retries it (with the old secret, still
    // accepted): nothing twice.
    let (status, answer) = deliver_event(&lucid.url, &event).await;
    assert_eq!(status, 200, "{answer}");
    let id = answer["session"].as_str().unwrap().to_owned();
    let retry = serde_json::to_vec(&event).unwrap();
    let (status, again) = deliver(&lucid.url, Some(OLD_TOY_SECRET), retry).await;
    assert_eq!(
        (status, &again["duplicate"]),
        (200, &json!(true)),
        "{again}"
    );
    chat.wait_until("the eyes on the mention", |c| {
        c.reactions().into_iter().find(|r| r.message == mention)
    })
    .await;

    let session = lucid
        .until_session(&id, "the session to finish", |s| {
            matches!(state(s), "completed" | "failed" | "cancelled")
        })
        .await;
    assert_eq!(state(&session), "completed", "{session:#}\n{}", lucid.log());
    assert_eq!(lucid.sessions().await.len(), 1);
    assert_eq!(
        session["trigger"]["thread"],
        json!({"platform": "toy", "place": format!("{ROOM}/{mention}")})
    );
    assert_eq!(
        serde_json::to_value(thread_of(ROOM, &mention)).unwrap(),
        session["trigger"]["thread"]
    );

    // The pull request, on the branch with the fix, crediting Ada by her ToyChat name.
    let pulls = lucid.github.pulls(REPO);
    assert_eq!(pulls.len(), 1);
    let pull = &pulls[0];
    let pr_url = session["pr_url"].as_str().unwrap();
    assert!(
        pr_url.ends_with(&format!("/pull/{}", pull.number)),
        "{pr_url}"
    );
    let calc = lucid
        .github
        .git(REPO, &["show", &format!("{}:calc.py", pull.head)]);
    assert!(calc.contains("return a + b"), "{calc}");
    let body = pull.body.clone().unwrap_or_default();
    assert!(body.contains("Asked by Ada Lovelace in ToyChat"), "{body}");
    assert!(!body.contains("Fixes #"), "{body}");

    // The thread: the status message, posted by the worker and edited in place to
    // Done; the failing test, the edit, the pull request announced once, the ending.
    let said = chat
        .wait_until("the ending in the thread", |c| {
            let said = c.said_by_bot(ROOM, &mention);
            said.iter()
                .any(|m| m.text.contains("[b]Done.[/b]"))
                .then_some(said)
        })
        .await;
    let status = chat.message(&said[0].id).unwrap();
    assert!(status.edits() >= 1, "{:#?}", status.history);
    assert!(
        status
            .text
            .contains("[b]Done[/b] on [code]acme/calc[/code]"),
        "{}",
        status.text
    );
    assert!(
        status
            .text
            .contains(&format!("[url={}/sessions/{id}?share=", lucid.url)),
        "{}",
        status.text
    );
    let all: Vec<&str> = said[1..].iter().map(|m| m.text.as_str()).collect();
    let all = all.join("\n---\n");
    assert!(
        all.contains("[code]python3 test_calc.py[/code] failed (exit 1)"),
        "{all}"
    );
    assert!(all.contains("add is broken"), "{all}");
    assert!(all.contains("Edited [code]calc.py[/code] (+1 −1)"), "{all}");
    // The pull request's link, once: a retried delivery or the follower's last pass
    // adds none.
    let links = linking(&said, pr_url);
    assert_eq!(links, 1, "{links} links: {all}");
    let ending = said.last().unwrap();
    assert!(ending.text.contains("Make add() add"), "{}", ending.text);
    assert!(said.len() <= 5, "a noisy thread: {said:#?}");
    // Nothing was said anywhere else, and ToyChat refused nothing lucid sent.
    let elsewhere: Vec<_> = chat
        .messages()
        .into_iter()
        .filter(|m| m.author == chat.bot() && m.thread.as_deref() != Some(mention.as_str()))
        .collect();
    assert!(elsewhere.is_empty(), "{elsewhere:#?}");
    assert!(chat.refused().is_empty(), "{:#?}", chat.refused());
    assert_eq!(chat.reactions().len(), 1, "{:#?}", chat.reactions());
    assert!(chat.reactions().iter().all(|r| r.message != forged));

    // Secrets went only to their services.
    let log = lucid.log();
    assert!(log.contains("ToyChat webhooks on"), "{log}");
    for secret in [TOKEN, LLM_KEY, TOY_TOKEN, TOY_SECRET] {
        assert!(!log.contains(secret), "a secret is in the log");
        assert!(chat.messages().iter().all(|m| !m.text.contains(secret)));
    }
    for request in chat.requests() {
        assert_eq!(request.token.as_deref(), Some(TOY_TOKEN));
        assert!(!request.body.contains(TOKEN) && !request.body.contains(LLM_KEY));
    }
    for request in lucid.llm.received() {
        assert!(!request.body.to_string().contains(TOY_TOKEN));
    }
    lucid.stop().await;
}
