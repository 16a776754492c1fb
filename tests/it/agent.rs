//! The agent loop end to end: the real store, a real Docker sandbox holding a clone of
//! a small repository, and the fake model scripted step by step.

use crate::fake_llm::{FakeLlm, Reply};
use crate::harness::{Backend, migrated_store, new_session, within};
use lucid::agent::engine::{Agent, AgentEnd, AgentSettings, Prices};
use lucid::agent::llm::{OpenAiClient, RetryPolicy};
use lucid::agent::tools::ToolLimits;
use lucid::core::{Event, EventBody, SessionId};
use lucid::sandbox::{
    DockerEngine, DockerSandboxes, Sandbox, SandboxSettings, SandboxSpec, Sandboxes,
};
use lucid::store::Store;
use secrecy::SecretString;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const CALC: &str = "def add(a, b):\n    return a - b\n\n\ndef sub(a, b):\n    return a - b\n";
const TEST: &str = "from calc import add\nassert add(2, 2) == 4, 'add is broken'\nprint('ok')\n";

struct Rig {
    store: Store,
    session: SessionId,
    sandbox: Arc<dyn Sandbox>,
    fake: FakeLlm,
    client: OpenAiClient,
    settings: AgentSettings,
    _dirs: (tempfile::TempDir, tempfile::TempDir, crate::harness::TestDb),
}

fn git(args: &[&str], dir: &std::path::Path) {
    let status = Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args(args)
        .current_dir(dir)
        .status()
        .unwrap();
    assert!(status.success(), "git {args:?}");
}

/// A small repository whose test fails.
fn calc_repo() -> tempfile::TempDir {
    let repo = tempfile::tempdir().unwrap();
    std::fs::write(repo.path().join("calc.py"), CALC).unwrap();
    std::fs::write(repo.path().join("test_calc.py"), TEST).unwrap();
    git(&["init", "-q"], repo.path());
    git(&["add", "."], repo.path());
    git(&["commit", "-qm", "calc"], repo.path());
    repo
}

/// The script of a session that fixes calc.py.
fn fixing_script() -> Vec<Reply> {
    vec![
        Reply::tool_call("c1", "run", r#"{"command": "python3 test_calc.py"}"#)
            .saying("Let me run the test first."),
        Reply::tool_call(
            "c2",
            "read_file",
            r#"{"path": "calc.py", "start": 1, "end": 2}"#,
        ),
        Reply::tool_call(
            "c3",
            "edit_file",
            r#"{"path": "calc.py", "old_text": "def add(a, b):\n    return a - b", "new_text": "def add(a, b):\n    return a + b"}"#,
        ),
        Reply::tool_call("c4", "run", r#"{"command": "python3 test_calc.py"}"#),
        Reply::tool_call(
            "c5",
            "finish",
            r#"{"summary": "add() subtracted; it adds now."}"#,
        ),
    ]
}

/// A repository with a failing test, cloned on the host into a fresh sandbox's workspace.
async fn rig(replies: Vec<Reply>) -> Rig {
    let (store, db) = migrated_store(Backend::Sqlite).await;
    let session = new_session(&store, &format!("agent-{}", uuid::Uuid::now_v7()))
        .await
        .id;
    let repo = calc_repo();
    let workspaces = tempfile::tempdir().unwrap();
    let engine = Arc::new(DockerEngine::new(&crate::harness::docker_host()).unwrap());
    let sandboxes = DockerSandboxes::new(
        engine,
        SandboxSettings {
            spec: SandboxSpec::default(),
            workspaces: workspaces.path().to_owned(),
            pool_size: 0,
            idle_timeout: Duration::from_secs(600),
        },
    );
    let sandbox = within(
        "a sandbox",
        sandboxes.create(session, &SandboxSpec::default()),
    )
    .await
    .unwrap();
    let source = repo.path().display().to_string();
    git(&["clone", "-q", &source, "."], sandbox.workspace().path());
    sandbox.workspace().hand_over().unwrap();

    let fake = FakeLlm::start(replies).await;
    let client = OpenAiClient::new(
        &fake.base_url,
        SecretString::from("sk-agent-test"),
        Duration::from_secs(10),
        RetryPolicy::default(),
    );
    let settings = AgentSettings {
        model: "fake-model".into(),
        max_steps: 20,
        max_tokens: 1_000_000,
        max_cost_micros: 10_000_000,
        prices: Prices {
            input_per_mtok: 3_000_000,
            output_per_mtok: 15_000_000,
        },
        tools: ToolLimits {
            command_timeout: Duration::from_secs(60),
            output_cap: 16 * 1024,
        },
        max_context_bytes: 200_000,
    };
    Rig {
        store,
        session,
        sandbox,
        fake,
        client,
        settings,
        _dirs: (repo, workspaces, db),
    }
}

impl Rig {
    fn agent(
        &self,
        inbox: mpsc::UnboundedReceiver<(String, String)>,
        stop: CancellationToken,
    ) -> Agent<'_> {
        Agent {
            model: &self.client,
            sandbox: &*self.sandbox,
            store: &self.store,
            session: self.session,
            checkpoints: None,
            settings: &self.settings,
            inbox,
            stop,
        }
    }

    async fn run(&self) -> AgentEnd {
        let (_tx, inbox) = mpsc::unbounded_channel();
        within(
            "the agent",
            self.agent(inbox, CancellationToken::new())
                .run("make test_calc.py pass"),
        )
        .await
        .unwrap()
    }

    async fn events(&self) -> Vec<Event> {
        self.store
            .events_after(self.session, 0, 1000)
            .await
            .unwrap()
    }

    /// The last message the model was sent in request `n` (0-based).
    fn last_sent(&self, n: usize) -> serde_json::Value {
        let received = self.fake.received();
        received[n].body["messages"]
            .as_array()
            .unwrap()
            .last()
            .unwrap()
            .clone()
    }
}

fn kinds(events: &[Event]) -> Vec<&'static str> {
    events.iter().map(|e| e.body.kind()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_agent_fixes_a_failing_test_and_every_step_is_logged() {
    let rig = rig(fixing_script()).await;
    let end = rig.run().await;
    assert_eq!(
        end,
        AgentEnd::Finished {
            summary: "add() subtracted; it adds now.".into()
        }
    );

    let events = rig.events().await;
    assert_eq!(
        kinds(&events),
        [
            "status",
            "usage",
            "thought",
            "command",
            "output",
            "usage",
            "usage",
            "file_edit",
            "usage",
            "command",
            "output",
            "usage"
        ]
    );
    let outputs: Vec<(Option<i64>, &str)> = events
        .iter()
        .filter_map(|e| match &e.body {
            EventBody::Output { text, exit_code } => Some((*exit_code, text.as_str())),
            _ => None,
        })
        .collect();
    assert_eq!(outputs[0].0, Some(1));
    assert!(
        outputs[0].1.contains("AssertionError: add is broken"),
        "{}",
        outputs[0].1
    );
    assert_eq!(outputs[1], (Some(0), "ok\n"));
    let diff = events
        .iter()
        .find_map(|e| match &e.body {
            EventBody::FileEdit { path, diff } if path == "calc.py" => Some(diff.clone()),
            _ => None,
        })
        .unwrap();
    assert!(
        diff.contains("-    return a - b\n+    return a + b\n"),
        "{diff}"
    );
    assert_eq!(
        diff.matches("\n+").count(),
        1 + 1,
        "only one line changed (plus the +++ header): {diff}"
    );
    let on_host = std::fs::read_to_string(rig.sandbox.workspace().path().join("calc.py")).unwrap();
    assert!(on_host.starts_with("def add(a, b):\n    return a + b\n"));

    // What the model saw: the test's failure, then the numbered lines it asked for.
    assert!(
        rig.last_sent(1)["content"]
            .as_str()
            .unwrap()
            .contains("[exit code 1]")
    );
    assert_eq!(
        rig.last_sent(2)["content"],
        "    1 def add(a, b):\n    2     return a - b\n"
    );
    let last_usage = events.iter().rev().find_map(|e| match e.body {
        EventBody::Usage {
            tokens_in,
            cost_micros,
            ..
        } => Some((tokens_in, cost_micros)),
        _ => None,
    });
    assert_eq!(last_usage, Some((50, 50 * 3 + 25 * 15)));
    rig.sandbox.destroy().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn tool_mistakes_go_back_to_the_model_and_the_session_goes_on() {
    let rig = rig(vec![
        Reply::tool_call(
            "c1",
            "edit_file",
            r#"{"path": "calc.py", "old_text": "return a - b", "new_text": "return a + b"}"#,
        ),
        Reply::tool_call("c2", "run", r#"{"command": "python3 test_calc.py"#),
        Reply::tool_call("c3", "delete_everything", r#"{}"#),
        Reply::tool_call("c4", "finish", r#"{"summary": "gave up"}"#),
    ])
    .await;
    assert_eq!(
        rig.run().await,
        AgentEnd::Finished {
            summary: "gave up".into()
        }
    );
    let twice = rig.last_sent(1)["content"].as_str().unwrap().to_owned();
    assert!(twice.contains("old_text matches 2 times"), "{twice}");
    let malformed = rig.last_sent(2)["content"].as_str().unwrap().to_owned();
    assert!(
        malformed.starts_with("error: the arguments are not valid JSON"),
        "{malformed}"
    );
    let unknown = rig.last_sent(3)["content"].as_str().unwrap().to_owned();
    assert!(
        unknown.contains("there is no tool \"delete_everything\""),
        "{unknown}"
    );
    assert_eq!(
        std::fs::read_to_string(rig.sandbox.workspace().path().join("calc.py")).unwrap(),
        CALC
    );
    rig.sandbox.destroy().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_step_budget_ends_the_session_with_its_reason() {
    let mut rig = rig((0..5)
        .map(|i| Reply::tool_call(&format!("c{i}"), "run", r#"{"command": "true"}"#))
        .collect())
    .await;
    rig.settings.max_steps = 3;
    assert_eq!(rig.run().await, AgentEnd::StepLimit(3));
    assert_eq!(rig.fake.received().len(), 3);
    rig.sandbox.destroy().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cost_budget_ends_the_session() {
    let mut rig = rig((0..5)
        .map(|i| Reply::tool_call(&format!("c{i}"), "run", r#"{"command": "true"}"#))
        .collect())
    .await;
    // Each answer costs 10*3 + 5*15 = 105 micro-dollars.
    rig.settings.max_cost_micros = 200;
    assert_eq!(rig.run().await, AgentEnd::CostBudget(200));
    assert_eq!(rig.fake.received().len(), 2);
    rig.sandbox.destroy().await.unwrap();
}

/// Waits until the session's log holds an event of `kind`.
async fn until_logged(store: &Store, session: SessionId, kind: &str) {
    let mut watch = store.watch(session);
    within(kind, async {
        loop {
            let events = store.events_after(session, 0, 1000).await.unwrap();
            if events.iter().any(|e| e.body.kind() == kind) {
                return;
            }
            watch.changed().await;
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn stop_ends_the_session_within_two_seconds_even_mid_command() {
    let rig = rig(vec![Reply::tool_call(
        "c1",
        "run",
        r#"{"command": "echo started; sleep 300"}"#,
    )])
    .await;
    let stop = CancellationToken::new();
    let (_tx, inbox) = mpsc::unbounded_channel();
    let agent = rig.agent(inbox, stop.clone());
    let running = agent.run("anything");
    let watcher = async {
        until_logged(&rig.store, rig.session, "command").await;
        // The command is running now (its Command event is logged before it starts).
        stop.cancel();
        Instant::now()
    };
    let (end, stopped_at) = tokio::join!(within("the agent", running), watcher);
    assert!(
        stopped_at.elapsed() < Duration::from_secs(2),
        "stop took {:?}",
        stopped_at.elapsed()
    );
    assert_eq!(end.unwrap(), AgentEnd::Stopped);
    rig.sandbox.destroy().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn stop_ends_the_session_within_two_seconds_even_mid_stream() {
    // The answer starts streaming, then the provider goes quiet.
    let rig = rig(vec![Reply::text("Thinking about", 1, 1).stall_after(2)]).await;
    let stop = CancellationToken::new();
    let (_tx, inbox) = mpsc::unbounded_channel();
    let agent = rig.agent(inbox, stop.clone());
    let running = agent.run("anything");
    let watcher = async {
        rig.fake.until_a_stream_stalls().await;
        stop.cancel();
        Instant::now()
    };
    let (end, stopped_at) = tokio::join!(within("the agent", running), watcher);
    assert!(
        stopped_at.elapsed() < Duration::from_secs(2),
        "stop took {:?}",
        stopped_at.elapsed()
    );
    assert_eq!(end.unwrap(), AgentEnd::Stopped);
    rig.sandbox.destroy().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_follow_up_sent_while_a_command_runs_reaches_the_model_next() {
    let rig = rig(vec![
        Reply::tool_call(
            "c1",
            "run",
            r#"{"command": "while [ ! -f /tmp/go ]; do sleep 0.05; done; echo done"}"#,
        ),
        Reply::tool_call("c2", "finish", r#"{"summary": "done, docs too"}"#),
    ])
    .await;
    let (tx, inbox) = mpsc::unbounded_channel();
    let agent = rig.agent(inbox, CancellationToken::new());
    let running = agent.run("fix it");
    let person = async {
        until_logged(&rig.store, rig.session, "command").await;
        // Whoever receives a follow-up logs it, then hands it to the running agent.
        tx.send(("ada".into(), "also update the docs".into()))
            .unwrap();
        rig.sandbox.write_file("/tmp/go", b"").await.unwrap();
    };
    let (end, ()) = tokio::join!(within("the agent", running), person);
    assert_eq!(
        end.unwrap(),
        AgentEnd::Finished {
            summary: "done, docs too".into()
        }
    );
    let sent = rig.last_sent(1);
    assert_eq!(sent["role"], "user");
    assert!(
        sent["content"]
            .as_str()
            .unwrap()
            .contains("also update the docs")
    );
    rig.sandbox.destroy().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_model_that_refuses_the_key_fails_the_session_with_the_reason_logged() {
    let rig = rig(vec![Reply::error(401, "Incorrect API key provided")]).await;
    let end = rig.run().await;
    assert!(
        matches!(&end, AgentEnd::ModelFailed(m) if m.contains("refused the API key")),
        "{end:?}"
    );
    let events = rig.events().await;
    assert!(events.iter().any(|e| matches!(&e.body, EventBody::Error { message } if message.contains("refused the API key"))));
    rig.sandbox.destroy().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn lucid_run_works_a_task_from_the_terminal_and_prints_each_step() {
    let repo = calc_repo();
    let fake = FakeLlm::start(fixing_script()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_lucid"));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DOCKER_HOST", crate::harness::docker_host())
        .env("LUCID_LLM_API_KEY", "sk-run-test")
        .env("LUCID_LLM_MODEL", "fake-model")
        .env("LUCID_LLM_BASE_URL", &fake.base_url)
        .current_dir(dir.path())
        .args([
            "run",
            "--repo",
            &repo.path().display().to_string(),
            "make test_calc.py pass",
        ]);
    let output = within(
        "lucid run",
        tokio::task::spawn_blocking(move || command.output()),
    )
    .await
    .unwrap()
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for expected in [
        "Let me run the test first.",
        "$ python3 test_calc.py",
        "AssertionError: add is broken",
        "-    return a - b",
        "+    return a + b",
        "ok\n[exit 0]",
        "Finished: add() subtracted; it adds now.",
        "calc.py | 2 +-",
    ] {
        assert!(stdout.contains(expected), "no {expected:?} in:\n{stdout}");
    }
    // The repository itself was cloned, not changed; the sandbox is gone.
    assert_eq!(
        std::fs::read_to_string(repo.path().join("calc.py")).unwrap(),
        CALC
    );
    assert_eq!(
        std::fs::read_dir(dir.path().join("workspaces"))
            .unwrap()
            .count(),
        0
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_follow_up_after_the_end_resumes_the_conversation_on_the_same_workspace() {
    let mut script = fixing_script();
    script.extend([
        Reply::tool_call("c6", "read_file", r#"{"path": "calc.py"}"#),
        Reply::tool_call(
            "c7",
            "finish",
            r#"{"summary": "sub() was right all along."}"#,
        ),
    ]);
    let rig = rig(script).await;
    assert!(matches!(rig.run().await, AgentEnd::Finished { .. }));
    let first_run_requests = rig.fake.received().len();

    let (_tx, inbox) = mpsc::unbounded_channel();
    let follow_ups = vec![("ada".to_owned(), "is sub() right too?".to_owned())];
    let end = within(
        "the resumed agent",
        rig.agent(inbox, CancellationToken::new())
            .resume(follow_ups),
    )
    .await
    .unwrap();
    assert_eq!(
        end,
        AgentEnd::Finished {
            summary: "sub() was right all along.".into()
        }
    );

    let received = rig.fake.received();
    let resumed = received[first_run_requests].body["messages"]
        .as_array()
        .unwrap()
        .clone();
    // The whole earlier conversation came back: the task, every call and its result
    // (the finish call answered too, or the provider would refuse it), then the
    // follow-up.
    let contents: Vec<String> = resumed
        .iter()
        .map(|m| m["content"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert!(contents[1].contains("make test_calc.py pass"));
    let answered: Vec<&str> = resumed
        .iter()
        .filter_map(|m| m["tool_call_id"].as_str())
        .collect();
    assert_eq!(answered, ["c1", "c2", "c3", "c4", "c5"]);
    let last = resumed.last().unwrap();
    assert_eq!(last["role"], "user");
    assert!(
        last["content"]
            .as_str()
            .unwrap()
            .contains("is sub() right too?")
    );
    // The workspace kept the first run's fix.
    let read_back = rig.last_sent(first_run_requests + 1);
    assert!(
        read_back["content"]
            .as_str()
            .unwrap()
            .contains("return a + b"),
        "{read_back}"
    );
    // Spending carries on from where the first run left it.
    let usage: Vec<u64> = rig
        .events()
        .await
        .iter()
        .filter_map(|e| match e.body {
            EventBody::Usage { tokens_in, .. } => Some(tokens_in),
            _ => None,
        })
        .collect();
    assert_eq!(usage, [10, 20, 30, 40, 50, 60, 70]);
    rig.sandbox.destroy().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_session_with_nothing_saved_cannot_be_resumed() {
    let rig = rig(vec![]).await;
    let (_tx, inbox) = mpsc::unbounded_channel();
    let err = rig
        .agent(inbox, CancellationToken::new())
        .resume(vec![])
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "the session cannot be resumed: no conversation was saved"
    );
    rig.sandbox.destroy().await.unwrap();
}
