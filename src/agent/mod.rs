//! The built-in agent: language-model clients (`llm`), the tools it uses in the
//! sandbox (`tools`), and the loop that drives them (`engine`).

pub mod builtin;
pub mod engine;
pub mod llm;
pub mod port;
pub mod tools;

pub use port::{AgentRunner, Job, JobEnd, Said, Start};

use crate::core::{EventBody, SessionId};
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
}

impl StepLog<'_> {
    pub async fn log(&self, body: EventBody) -> Result<(), StoreError> {
        self.store
            .append_event(self.session, body)
            .await
            .map(|_| ())
    }
}

/// The built-in agent, when a model is configured.
pub fn register(
    registry: &mut crate::registry::Registry,
    settings: &crate::config::Settings,
    context: &crate::registry::Context,
) -> anyhow::Result<()> {
    if let Some(llm) = &settings.llm {
        registry.set_agent(std::sync::Arc::new(builtin::BuiltinAgent {
            model: llm::connect(llm),
            settings: settings.agent.clone(),
            store: context.store.clone(),
        }));
    }
    Ok(())
}
