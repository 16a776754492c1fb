//! A session's life without Docker or a model server, in seconds: lucid's real
//! `Worker`, store, intake, follower, driver, built-in agent and GitHub forge (against
//! the fake GitHub, real git over HTTP), with a sandbox of host directories, a
//! scripted model in process, and the toy platform on its fake ToyChat. Sessions are
//! asked for through the toy webhook, as a person would.

mod model;
mod sandbox;

use crate::fake_github::FakeGithub;
use crate::harness::{Backend, TestDb, migrated_store, within};
use crate::toy::chat::{ToyChat, ToyMessage};
use crate::toy::{ADA, ROOM, deliver_event, linking, posted, toy_platform, toychat};
use async_trait::async_trait;
use lucid::agent::builtin::BuiltinAgent;
use lucid::agent::engine::{AgentSettings, Prices};
use lucid::agent::tools::ToolLimits;
use lucid::chat::{ChatPlatform, Intake, Pacing, Rendered, StatusView};
use lucid::config::{GithubAuth, GithubSettings};
use lucid::core::{
    Author, DeliveryId, Origin, Platform, Session, SessionId, SessionState, ThreadRef, Trigger,
};
use lucid::github::GithubForge;
use lucid::github::outbound::client::GithubClient;
use lucid::messages::{Markup, PlainWords};
use lucid::registry::Registry;
use lucid::sandbox::SandboxSpec;
use lucid::store::{Recorded, Store};
use lucid::worker::Worker;
use model::{ScriptedModel, Step};
use sandbox::LocalSandboxes;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

const TOKEN: &str = "ghp_lifecycleToken0123456789abcdef";
const REPO: &str = "acme/calc";
const CALC: &str = "def add(a, b):\n    return a - b\n";
/// The repository's test, in bash: it fails until add() adds.
const CHECK: &str =
    "grep -q 'return a + b' calc.py && echo ok || { echo 'add is broken'; exit 1; }";
const PUBLIC_URL: &str = "http://lucid.test";

/// The model's side of a session that fixes calc.py: the check fails, an edit, the
/// check passes, done.
fn fixing_script() -> Vec<Step> {
    let check = serde_json::json!({ "command": CHECK }).to_string();
    vec![
        Step::call("c1", "run", &check).saying("Let me run the check first."),
        Step::call(
            "c2",
            "edit_file",
            r#"{"path": "calc.py", "old_text": "return a - b", "new_text": "return a + b"}"#,
        ),
        Step::call("c3", "run", &check),
        Step::call(
            "c4",
            "finish",
            r#"{"summary": "Make add() add\n\nIt subtracted."}"#,
        ),
    ]
}

struct Rig {
    store: Store,
    github: FakeGithub,
    chat: ToyChat,
    sandboxes: Arc<LocalSandboxes>,
    model: Arc<ScriptedModel>,
    /// The toy platform, the GitHub forge and the built-in agent.
    registry: Arc<Registry>,
    /// Where the toy webhook is served.
    base: String,
    dir: tempfile::TempDir,
    _db: TestDb,
}

/// A worker taking sessions until stopped.
struct Running {
    worker: Arc<Worker>,
    stop: CancellationToken,
    done: tokio::task::JoinHandle<()>,
}

impl Running {
    async fn stop(self) {
        self.stop.cancel();
        within("the worker to stop", self.done).await.unwrap();
    }
}

impl Rig {
    async fn start() -> Rig {
        let (store, db) = migrated_store(Backend::Sqlite).await;
        let github = FakeGithub::start("lucid").await;
        github.accept_token(TOKEN);
        github.add_repo(REPO, &[("calc.py", CALC)]);
        let chat = toychat().await;
        let dir = tempfile::tempdir().unwrap();
        let sandboxes = LocalSandboxes::new(&dir.path().join("workspaces"));
        let mut rig = Rig {
            store,
            github,
            chat,
            sandboxes,
            model: Arc::new(ScriptedModel::default()),
            registry: Arc::new(Registry::default()),
            base: String::new(),
            dir,
            _db: db,
        };
        let toy: Arc<dyn ChatPlatform> = toy_platform(&rig.chat, REPO);
        rig.registry = Arc::new(rig.registry_with(toy));
        let intake = rig
            .registry
            .intake(&rig.store, &lucid::web::Links::unshared(PUBLIC_URL));
        rig.base = serve(rig.registry.routes(&intake)).await;
        rig
    }

    /// A registry with the GitHub forge, the built-in agent over the scripted model,
    /// and `platform`.
    fn registry_with(&self, platform: Arc<dyn ChatPlatform>) -> Registry {
        let settings = GithubSettings {
            webhook_secrets: vec!["unused-secret".into()],
            auth: GithubAuth::Token(TOKEN.into()),
            bot_login: "lucid".into(),
            api_url: self.github.origin.clone(),
            trigger_label: "lucid".into(),
            edit_interval: Duration::from_millis(50),
        };
        let client = Arc::new(GithubClient::new(&settings).unwrap());
        let mut registry = Registry::default();
        registry.add_platform(platform);
        registry.add_forge(Arc::new(GithubForge::new(
            client,
            "lucid".into(),
            self.dir.path().join("workspaces"),
        )));
        registry.set_agent(Arc::new(BuiltinAgent {
            model: self.model.clone(),
            settings: AgentSettings {
                model: "scripted".into(),
                max_steps: 20,
                max_tokens: 1_000_000,
                max_cost_micros: u64::MAX,
                prices: Prices::default(),
                tools: ToolLimits {
                    command_timeout: Duration::from_secs(60),
                    output_cap: 16 * 1024,
                },
                max_context_bytes: 200_000,
            },
            store: self.store.clone(),
        }));
        registry
    }

    fn start_worker(&self, registry: &Arc<Registry>) -> Running {
        let worker = Arc::new(Worker {
            store: self.store.clone(),
            sandboxes: self.sandboxes.clone(),
            spec: SandboxSpec::default(),
            registry: registry.clone(),
            links: lucid::web::Links::unshared(PUBLIC_URL),
            owner: format!("worker-{}", uuid::Uuid::now_v7()),
            max_sessions: 2,
            lease: std::time::Duration::from_secs(30),
            draft_on_budget: true,
        });
        let stop = CancellationToken::new();
        let done = tokio::spawn(worker.clone().run(stop.clone()));
        Running { worker, stop, done }
    }

    /// Ada asks lucid in ROOM: the session, and the thread's first message.
    async fn ask(&self, words: &str) -> (SessionId, String) {
        let root = self
            .chat
            .post_as(ADA, ROOM, None, &format!("@lucid {words}"));
        let (status, answer) = deliver_event(&self.base, &posted(&self.chat, &root, &root)).await;
        assert_eq!(status, 200, "{answer}");
        let id = answer["session"]
            .as_str()
            .expect("a session")
            .parse()
            .unwrap();
        (id, root)
    }

    /// Ada says `words` to lucid in the thread of `root`.
    async fn say(&self, root: &str, words: &str) -> serde_json::Value {
        let message = self
            .chat
            .post_as(ADA, ROOM, Some(root), &format!("@lucid {words}"));
        let (status, answer) =
            deliver_event(&self.base, &posted(&self.chat, &message, &message)).await;
        assert_eq!(status, 200, "{answer}");
        answer
    }

    async fn session(&self, id: SessionId) -> Session {
        self.store.session(id).await.unwrap().unwrap()
    }

    /// Waits (on the store's news, with the test deadline) until `check` accepts the
    /// session.
    async fn until(&self, id: SessionId, what: &str, check: impl Fn(&Session) -> bool) -> Session {
        within(what, async {
            let mut news = self.store.watch(id);
            loop {
                let session = self.session(id).await;
                if check(&session) {
                    return session;
                }
                news.changed().await;
            }
        })
        .await
    }

    /// The bot's messages in the thread once one of them says `words`.
    async fn thread_saying(&self, root: &str, words: &str) -> Vec<ToyMessage> {
        self.chat
            .wait_until(&format!("{words:?} in the thread"), |c| {
                let said = c.said_by_bot(ROOM, root);
                said.iter().any(|m| m.text.contains(words)).then_some(said)
            })
            .await
    }
}

async fn serve(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    base
}

#[tokio::test(flavor = "multi_thread")]
async fn a_session_is_claimed_run_published_and_its_thread_says_done() {
    let rig = Rig::start().await;
    rig.model.push(fixing_script());
    let worker = rig.start_worker(&rig.registry);
    let (id, root) = rig.ask("please fix add()").await;

    let session = rig
        .until(id, "the session to finish", |s| s.state.is_terminal())
        .await;
    assert_eq!(session.state, SessionState::Completed, "{session:#?}");
    assert_eq!(
        session.reason.as_deref(),
        Some("Make add() add\n\nIt subtracted.")
    );
    assert_eq!(rig.model.left(), 0);

    // Published: the branch holds the fix, and one pull request, linked.
    let branch = session.branch.clone().unwrap();
    assert!(
        branch.starts_with("lucid/") && branch.ends_with("-please-fix-add"),
        "{branch}"
    );
    let calc = rig
        .github
        .git(REPO, &["show", &format!("{branch}:calc.py")]);
    assert!(calc.contains("return a + b"), "{calc}");
    assert_eq!(rig.github.git(REPO, &["show", "main:calc.py"]), CALC);
    let pulls = rig.github.pulls(REPO);
    assert_eq!(pulls.len(), 1);
    let pr_url = session.pr_url.clone().expect("the PR's URL");
    assert!(
        pr_url.ends_with(&format!("/pull/{}", pulls[0].number)),
        "{pr_url}"
    );
    // Who asked, by the name ToyChat gives them (asked of its API by the worker).
    let body = pulls[0].body.clone().unwrap_or_default();
    assert!(body.contains("Asked by Ada Lovelace in ToyChat"), "{body}");

    // The thread: 👀 on the request; the status message posted by the worker as the
    // first reply, edited in place to Done; the moments and the ending as replies.
    let said = rig.thread_saying(&root, "[b]Done.[/b]").await;
    let eyes = rig
        .chat
        .wait_until("the eyes", |c| c.reactions().first().cloned())
        .await;
    assert_eq!(
        (eyes.message.as_str(), eyes.emoji.as_str()),
        (root.as_str(), "eyes")
    );
    assert_eq!(rig.chat.reactions().len(), 1);
    let status = rig.chat.message(&said[0].id).unwrap();
    assert!(status.edits() >= 1, "{:#?}", status.history);
    // Posted while the session was live (the worker may post it before the driver
    // moves the session out of Queued), then edited as it went.
    let live = [
        "[b]Queued[/b]",
        "[b]Starting a sandbox[/b]",
        "[b]Working[/b]",
    ];
    assert!(
        live.iter().any(|state| status.history[0].contains(state)),
        "{:#?}",
        status.history
    );

    assert!(
        status
            .text
            .starts_with(":white_check_mark: [b]Done[/b] on [code]acme/calc[/code]"),
        "{}",
        status.text
    );
    assert!(status.text.contains("Make add() add"), "{}", status.text);
    let replies: Vec<&str> = said[1..].iter().map(|m| m.text.as_str()).collect();
    let all = replies.join("\n---\n");
    assert!(all.contains("failed (exit 1)"), "{all}");
    assert!(all.contains("add is broken"), "{all}");
    assert!(all.contains("Edited [code]calc.py[/code] (+1 −1)"), "{all}");
    // The pull request is linked in the thread once, by the ending.
    let links = linking(&said, &pr_url);
    assert_eq!(links, 1, "{links} links: {all}");
    assert!(
        said.last().unwrap().text.contains("Make add() add"),
        "{all}"
    );
    assert!(replies.len() <= 4, "a noisy thread: {replies:#?}");
    assert!(rig.chat.refused().is_empty(), "{:#?}", rig.chat.refused());

    // The sandbox was made once and destroyed.
    assert_eq!(rig.sandboxes.made_for(id), [true]);
    worker.stop().await;
}

/// The pull request's link is said once in a thread that takes replies: the ending
/// links it, and its opening is no moment of its own.
#[tokio::test(flavor = "multi_thread")]
async fn the_pull_requests_link_is_posted_in_the_thread_once() {
    let rig = Rig::start().await;
    rig.model.push(fixing_script());
    let worker = rig.start_worker(&rig.registry);
    let (id, root) = rig.ask("please fix add()").await;
    let session = rig
        .until(id, "the session to finish", |s| s.state.is_terminal())
        .await;
    let said = rig.thread_saying(&root, "[b]Done.[/b]").await;
    let url = session.pr_url.unwrap();
    assert_eq!(linking(&said, &url), 1, "{said:#?}");
    worker.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stop_in_the_thread_cancels_a_running_command_quickly() {
    let rig = Rig::start().await;
    rig.model.push([Step::call(
        "c1",
        "run",
        r#"{"command": "echo working; sleep 300"}"#,
    )]);
    let worker = rig.start_worker(&rig.registry);
    let mut running = rig.sandboxes.running();
    let (id, root) = rig.ask("run the slow thing").await;
    within(
        "the command to run",
        running.wait_for(|r| r.iter().any(|c| c.contains("sleep 300"))),
    )
    .await
    .unwrap();
    assert_eq!(rig.session(id).await.state, SessionState::Running);
    // The status message shows what runs.
    rig.thread_saying(&root, "[code]echo working; sleep 300[/code]")
        .await;

    let stopped_at = Instant::now();
    let answer = rig.say(&root, "stop").await;
    assert_eq!(answer["as"], "stop", "{answer}");
    let session = rig
        .until(id, "the session to be cancelled", |s| s.state.is_terminal())
        .await;
    assert_eq!(session.state, SessionState::Cancelled);
    assert_eq!(session.reason.as_deref(), Some("stopped by @Ada Lovelace"));
    // The command is killed, not waited for.
    within("the command to end", running.wait_for(Vec::is_empty))
        .await
        .unwrap();
    assert!(
        stopped_at.elapsed() < Duration::from_secs(5),
        "{:?}",
        stopped_at.elapsed()
    );

    let said = rig.thread_saying(&root, "[b]Stopped[/b] (stopped by").await;
    let status = rig.chat.message(&said[0].id).unwrap();
    assert!(status.text.contains("[b]Stopped[/b]"), "{}", status.text);
    assert!(rig.github.pulls(REPO).is_empty());
    worker.stop().await;
    // The worker shows the end of the run it was doing, once: the intake leaves the
    // status message of a running session alone.
    let status = rig.chat.message(&said[0].id).unwrap();
    let stopped = status
        .history
        .iter()
        .filter(|text| text.contains("[b]Stopped[/b]"))
        .count();
    assert_eq!(stopped, 1, "{:#?}", status.history);
    assert_eq!(rig.sandboxes.made_for(id), [true]);
    assert!(rig.chat.refused().is_empty(), "{:#?}", rig.chat.refused());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_model_that_refuses_the_key_fails_the_session_and_the_thread_says_why() {
    let rig = Rig::start().await;
    rig.model
        .push([Step::BadKey("Incorrect API key provided".into())]);
    let worker = rig.start_worker(&rig.registry);
    let (id, root) = rig.ask("please fix add()").await;
    let session = rig
        .until(id, "the session to fail", |s| s.state.is_terminal())
        .await;
    assert_eq!(session.state, SessionState::Failed);
    let reason = session.reason.clone().unwrap();
    assert!(
        reason.contains("refused the API key (401): Incorrect API key provided"),
        "{reason}"
    );

    let said = rig.thread_saying(&root, "[b]The session failed:[/b]").await;
    let status = rig.chat.message(&said[0].id).unwrap();
    assert!(status.text.contains("[b]Failed[/b]"), "{}", status.text);
    assert!(
        status.text.contains(&format!("Why: {reason}")),
        "{}",
        status.text
    );
    let ending = said.last().unwrap();
    assert!(ending.text.contains(&reason), "{}", ending.text);
    assert!(rig.github.pulls(REPO).is_empty());
    worker.stop().await;
    assert_eq!(rig.sandboxes.made_for(id), [true]);
}

/// A platform that keeps what is said in memory (no server): `quiet`.
struct Quiet {
    said: Mutex<Vec<String>>,
}

const QUIET: Platform = Platform::known("quiet");

#[async_trait]
impl ChatPlatform for Quiet {
    fn platform(&self) -> Platform {
        QUIET
    }
    fn title(&self) -> &'static str {
        "Quiet"
    }
    fn routes(self: Arc<Self>, _: Intake) -> axum::Router {
        axum::Router::new()
    }
    fn markup(&self) -> &dyn Markup {
        &PlainWords
    }
    fn pacing(&self) -> Pacing {
        Pacing {
            edit_interval: Duration::from_millis(10),
            clock_refresh: Duration::from_secs(30),
            status_first: false,
            replies: Some(2_000),
            reply_interval: std::time::Duration::ZERO,
        }
    }
    async fn acknowledge(&self, _: &Origin) -> anyhow::Result<()> {
        Ok(())
    }
    async fn say(&self, _: &ThreadRef, rendered: &str) -> anyhow::Result<()> {
        self.said.lock().unwrap().push(rendered.to_owned());
        Ok(())
    }
    fn render_status(&self, view: &StatusView) -> Rendered {
        Rendered::text(lucid::messages::state_words(view.session.state).1)
    }
    async fn post_status(&self, thread: &ThreadRef, rendered: &Rendered) -> anyhow::Result<String> {
        self.say(thread, rendered.as_str()).await?;
        Ok("status".into())
    }
    async fn update_status(
        &self,
        thread: &ThreadRef,
        _: &str,
        rendered: &Rendered,
    ) -> anyhow::Result<()> {
        self.say(thread, rendered.as_str()).await
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_session_waits_for_a_worker_that_serves_its_platform() {
    let rig = Rig::start().await;
    rig.model.push(fixing_script());
    // A toy session, then one of the quiet platform (with no repository: it fails as
    // soon as it is run).
    let (toy_session, root) = rig.ask("please fix add()").await;
    let Recorded::Created(quiet_session) = rig
        .store
        .record_trigger(Trigger {
            thread: ThreadRef::Other {
                platform: QUIET,
                place: "q/1".into(),
            },
            author: Author {
                id: "q".into(),
                display_name: "Q".into(),
            },
            task: "something".into(),
            title: None,
            repo: None,
            delivery: DeliveryId::parse("quiet-1").unwrap(),
            agent: None,
        })
        .await
        .unwrap()
    else {
        panic!("a new delivery");
    };

    // A worker that serves only the quiet platform runs the quiet session (the
    // younger one) and leaves the toy session queued, counted as waiting.
    let quiet = Arc::new(Quiet {
        said: Mutex::new(Vec::new()),
    });
    let elsewhere = Arc::new(rig.registry_with(quiet.clone()));
    let other = rig.start_worker(&elsewhere);
    assert_eq!(other.worker.served().platforms, [QUIET]);
    let ran = rig
        .until(quiet_session.id, "the quiet session to be run", |s| {
            s.state.is_terminal()
        })
        .await;
    assert_eq!(ran.state, SessionState::Failed);
    assert!(ran.reason.unwrap().contains("no repository"));
    let waiting = rig.session(toy_session).await;
    assert_eq!(waiting.state, SessionState::Queued);
    assert!(waiting.lease.is_none(), "{waiting:#?}");
    assert_eq!(
        rig.store
            .count_unserved(&other.worker.served())
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        rig.store
            .count_unserved(&lucid::store::Serves {
                platforms: vec![QUIET, crate::toy::platform::TOY],
                forges: vec!["github".into()],
            })
            .await
            .unwrap(),
        0
    );
    assert!(rig.sandboxes.made_for(toy_session).is_empty());
    assert!(
        rig.chat.said_by_bot(ROOM, &root).is_empty(),
        "nothing was said in the toy thread"
    );
    // Stopped, the worker has finished what it ran, its thread included.
    other.stop().await;
    let said = quiet.said.lock().unwrap().join("\n");
    assert!(said.contains("The session failed: no repository"), "{said}");
    assert_eq!(rig.session(toy_session).await.state, SessionState::Queued);

    // A worker that serves it runs it.
    let worker = rig.start_worker(&rig.registry);
    let done = rig
        .until(toy_session, "the toy session to finish", |s| {
            s.state.is_terminal()
        })
        .await;
    assert_eq!(done.state, SessionState::Completed, "{done:#?}");
    assert_eq!(
        rig.store
            .count_unserved(&worker.worker.served())
            .await
            .unwrap(),
        0
    );
    rig.thread_saying(&root, "[b]Done.[/b]").await;
    worker.stop().await;
}
