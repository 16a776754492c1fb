//! The agent loop's own overhead: an instant model and an instant sandbox, so every
//! microsecond measured is lucid's (message handling, tool dispatch, the event log on
//! SQLite). Run: `cargo bench --bench agent`.

use async_trait::async_trait;
use lucid::agent::engine::{Agent, AgentEnd, AgentSettings, Prices};
use lucid::agent::llm::{ChatModel, ChatRequest, Completion, LlmError, TokenUsage, ToolCall};
use lucid::agent::tools::ToolLimits;
use lucid::config::DatabaseUrl;
use lucid::core::{Author, DeliveryId, ThreadRef, Trigger};
use lucid::sandbox::{
    CapturedOutput, CommandResult, CommandSpec, FileEntry, Outcome, OutputChunk, ProcessSpec,
    Sandbox, SandboxError, SandboxProcess, Workspace,
};
use lucid::store::{Recorded, Store};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const STEPS: u32 = 2_000;

/// Answers at once: a command each turn, `finish` at the end.
struct InstantModel {
    turns: AtomicU32,
}

#[async_trait]
impl ChatModel for InstantModel {
    async fn complete(&self, _: &ChatRequest<'_>) -> Result<Completion, LlmError> {
        let turn = self.turns.fetch_add(1, Ordering::Relaxed);
        let (name, arguments) = if turn + 1 >= STEPS {
            ("finish", r#"{"summary": "done"}"#)
        } else {
            ("run", r#"{"command": "cargo test"}"#)
        };
        Ok(Completion {
            text: "Next step.".into(),
            tool_calls: vec![ToolCall {
                id: format!("c{turn}"),
                name: name.into(),
                arguments: arguments.into(),
            }],
            usage: TokenUsage {
                input: 1000,
                output: 50,
            },
        })
    }
}

/// Runs nothing and answers at once.
struct InstantSandbox {
    workspace: Workspace,
}

#[async_trait]
impl Sandbox for InstantSandbox {
    fn id(&self) -> &str {
        "instant"
    }
    fn workspace(&self) -> &Workspace {
        &self.workspace
    }
    async fn run(
        &self,
        _: &CommandSpec,
        _: Option<&mpsc::Sender<OutputChunk>>,
        _: &CancellationToken,
    ) -> Result<CommandResult, SandboxError> {
        Ok(CommandResult {
            outcome: Outcome::Exited(0),
            output: CapturedOutput {
                text: "test result: ok. 12 passed\n".into(),
                total_bytes: 27,
                cut_bytes: 0,
            },
            duration: Duration::ZERO,
        })
    }
    /// The agent loop measured here runs commands only.
    async fn spawn(
        &self,
        _: &ProcessSpec,
        _: &CancellationToken,
    ) -> Result<SandboxProcess, SandboxError> {
        Err(SandboxError::Unsupported("start a process"))
    }
    async fn read_file(&self, _: &str) -> Result<Vec<u8>, SandboxError> {
        Ok(Vec::new())
    }
    async fn write_file(&self, _: &str, _: &[u8]) -> Result<(), SandboxError> {
        Ok(())
    }
    async fn list_files(&self, _: &str) -> Result<Vec<FileEntry>, SandboxError> {
        Ok(Vec::new())
    }
    async fn destroy(&self) -> Result<(), SandboxError> {
        Ok(())
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let url =
            DatabaseUrl::parse(&format!("sqlite://{}/bench.db", dir.path().display())).unwrap();
        let store = Store::connect(&url).await.unwrap();
        store.migrate().await.unwrap();
        let trigger = Trigger {
            thread: ThreadRef::Web { id: "bench".into() },
            author: Author {
                id: "bench".into(),
                display_name: "bench".into(),
            },
            task: "make the tests pass".into(),
            title: None,
            repo: None,
            delivery: DeliveryId::parse("bench").unwrap(),
            agent: None,
        };
        let Recorded::Created(session) = store.record_trigger(trigger).await.unwrap() else {
            unreachable!()
        };
        let user = lucid::sandbox::workspace::SandboxUser::for_this_process();
        let sandbox = InstantSandbox {
            workspace: Workspace::create(dir.path(), "w", user).unwrap(),
        };
        let model = InstantModel {
            turns: AtomicU32::new(0),
        };
        let settings = AgentSettings {
            model: "instant".into(),
            max_steps: STEPS + 1,
            max_tokens: u64::MAX,
            max_cost_micros: u64::MAX,
            prices: Prices::default(),
            tools: ToolLimits {
                command_timeout: Duration::from_secs(60),
                output_cap: 32 * 1024,
            },
            max_context_bytes: 400_000,
        };
        let (_tx, inbox) = mpsc::unbounded_channel();
        let agent = Agent {
            model: &model,
            sandbox: &sandbox,
            store: &store,
            session: session.id,
            checkpoints: None,
            settings: &settings,
            inbox,
            stop: CancellationToken::new(),
        };
        let started = Instant::now();
        let end = agent.run("make the tests pass").await.unwrap();
        let elapsed = started.elapsed();
        assert_eq!(
            end,
            AgentEnd::Finished {
                summary: "done".into()
            }
        );
        let events = store.count_events().await.unwrap();
        println!("agent loop, instant model and sandbox, SQLite event log");
        println!("steps            {STEPS}");
        println!("events logged    {events}");
        println!(
            "steps per second {:.0}",
            f64::from(STEPS) / elapsed.as_secs_f64()
        );
        println!(
            "ms per step      {:.3}",
            elapsed.as_secs_f64() * 1000.0 / f64::from(STEPS)
        );
    });
}
