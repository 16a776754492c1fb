//! The agent port: a job (a session's sandbox, a fresh task or a resume with what
//! people said since, an inbox of follow-ups, a sink for steps, a stop token) ends as
//! finished with a summary, stopped, or failed with a reason. The built-in loop over a
//! language model is one implementation ([`super::builtin`]); external agents are
//! others.

use super::StepLog;
use crate::core::Session;
use crate::sandbox::Sandbox;
use async_trait::async_trait;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Something a person said in the session's thread: who, and what.
pub type Said = (String, String);

/// A person's answer to the agent's permission request `number` (none: the one that
/// waits).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PermissionAnswer {
    pub author: String,
    pub number: Option<u32>,
    pub allow: bool,
}

/// How a job begins.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Start {
    /// The session's first run: its task.
    Fresh { task: String },
    /// A finished session taken up again: its task, and what people said since it
    /// last ended. An agent that kept its own state picks up from there.
    Resume { task: String, said: Vec<Said> },
}

pub struct Job<'a> {
    pub session: &'a Session,
    pub sandbox: &'a dyn Sandbox,
    pub start: Start,
    /// What people say while the job runs, for the agent's next step.
    pub inbox: mpsc::UnboundedReceiver<Said>,
    /// Answers people give to the agent's permission requests, as they come.
    pub answers: mpsc::UnboundedReceiver<PermissionAnswer>,
    /// Where every step is written as it happens.
    pub steps: StepLog<'a>,
    pub stop: CancellationToken,
}

/// How a job ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JobEnd {
    Finished {
        summary: String,
    },
    Stopped,
    Failed {
        reason: String,
    },
    /// A budget (steps, tokens, cost) ran out before the work was done: what was
    /// done may still be worth a draft change request.
    OutOfBudget {
        reason: String,
    },
}

/// What an agent is, for the agents list.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct AgentKind {
    /// `built-in` (lucid's own loop) or `acp` (a program over the Agent Client
    /// Protocol).
    pub protocol: &'static str,
    /// The model provider it talks to, when lucid knows.
    pub provider: Option<String>,
    /// The command line run in the sandbox, for an external agent.
    pub command: Option<Vec<String>>,
    /// Why a session with it would fail at once (no key for its provider), if so.
    pub unavailable: Option<String>,
}

#[async_trait]
pub trait AgentRunner: Send + Sync + 'static {
    /// The agent's name, for logs and the doctor.
    fn name(&self) -> &str;

    /// What it is.
    fn kind(&self) -> AgentKind {
        AgentKind {
            protocol: "built-in",
            provider: None,
            command: None,
            unavailable: None,
        }
    }

    /// Runs the job to its end. An error is a failure of lucid's own parts (the
    /// store, the sandbox), not of the agent.
    async fn run(&self, job: Job<'_>) -> anyhow::Result<JobEnd>;
}
