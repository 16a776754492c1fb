//! The agents: the built-in one (language-model clients in `llm`, the tools it uses
//! in the sandbox in `tools`, the loop that drives them in `engine`), and external
//! ones over the Agent Client Protocol (`acp`), which reach their models through the
//! model gateway (`gateway`).

pub mod acp;
pub mod builtin;
pub mod engine;
pub mod gateway;
pub mod guidance;
pub mod llm;
pub mod port;
pub mod tools;

pub use port::{AgentKind, AgentRunner, Job, JobEnd, PermissionAnswer, Said, Start};

use crate::core::{EventBody, SessionId};
use crate::forge::checkpoint::{Checkpoint, Checkpoints};
use crate::sandbox::SandboxError;
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    #[error("the session cannot be resumed: {0}")]
    Conversation(String),
}

/// Where a session's steps are written as they happen.
#[derive(Clone, Copy)]
pub struct StepLog<'a> {
    pub store: &'a Store,
    pub session: SessionId,
    /// The work tree's checkpoints, when the session's host keeps them: every
    /// change then reaches the log from them, whatever made it.
    pub checkpoints: Option<&'a Checkpoints>,
}

impl StepLog<'_> {
    /// Logs a step; while the store is away, waits for it (see `Store::outlasting`):
    /// the agent pauses rather than its session failing.
    pub async fn log(&self, body: EventBody) -> Result<(), StoreError> {
        let (store, session) = (self.store, self.session);
        store
            .outlasting(|| store.append_event(session, body.clone()))
            .await
            .map(|_| ())
    }

    /// Whether changes reach the log from checkpoints (the tools then log none).
    pub fn checkpointed(&self) -> bool {
        self.checkpoints.is_some()
    }

    /// After a step of the agent (`label`): a checkpoint when the work tree changed,
    /// logged as one file edit per changed file. A checkpoint that cannot be made is
    /// said in lucid's log and the session goes on: the work itself is unharmed.
    pub async fn after_step(&self, label: &str) -> Result<(), StoreError> {
        let Some(checkpoints) = self.checkpoints else {
            return Ok(());
        };
        match checkpoints.record(label).await {
            Ok(Some(checkpoint)) => self.log_checkpoint(checkpoint).await,
            Ok(None) => Ok(()),
            Err(e) => {
                tracing::warn!(session = %self.session, error = %e, "no checkpoint after a step");
                Ok(())
            }
        }
    }

    /// A checkpoint in the log: its number and files, then one file edit per file.
    pub async fn log_checkpoint(&self, checkpoint: Checkpoint) -> Result<(), StoreError> {
        self.log(EventBody::Checkpoint {
            number: checkpoint.number,
            label: checkpoint.label,
            files: checkpoint.changes.iter().map(|c| c.path.clone()).collect(),
        })
        .await?;
        for change in checkpoint.changes {
            self.log(EventBody::FileEdit {
                path: change.path,
                diff: change.diff,
            })
            .await?;
        }
        Ok(())
    }
}

/// The built-in agent when a model is configured, each external agent, and the
/// default among them.
pub fn register(
    registry: &mut crate::registry::Registry,
    settings: &crate::config::Settings,
    context: &crate::registry::Context,
) -> anyhow::Result<()> {
    use std::sync::Arc;
    if let Some(llm) = &settings.llm {
        registry.set_agent(Arc::new(builtin::BuiltinAgent {
            model: llm::connect(llm),
            settings: settings.agent.clone(),
            store: context.store.clone(),
        }));
    }
    let agents = &settings.agents;
    if !agents.external.is_empty() {
        let acp_settings = Arc::new(acp::AcpSettings {
            permissions: agents.permissions,
            permission_timeout: agents.permission_timeout,
            idle_timeout: agents.idle_timeout,
            grace: std::time::Duration::from_secs(2),
            prices: settings.agent.prices,
            max_tokens: settings.agent.max_tokens,
            max_cost_micros: settings.agent.max_cost_micros,
        });
        let gateways = acp::gateways::Gateways::new(&agents.providers);
        for agent in &agents.external {
            registry.add_agent(
                &agent.id,
                Arc::new(acp::AcpAgent {
                    agent: agent.clone(),
                    settings: acp_settings.clone(),
                    gateways: gateways.clone(),
                    store: context.store.clone(),
                    seen: registry.seen_agents().clone(),
                }),
            );
        }
    }
    if let Some(default) = &agents.default {
        registry.set_default_agent(default);
    }
    Ok(())
}
