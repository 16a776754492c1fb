//! The built-in agent: lucid's own loop over a language model, as an [`AgentRunner`].
//! It keeps its conversation in the store, so a resumed session picks it up.

use super::engine::{Agent, AgentEnd, AgentSettings};
use super::llm::ChatModel;
use super::port::{AgentRunner, Job, JobEnd, Start};
use crate::store::Store;
use async_trait::async_trait;
use std::sync::Arc;

pub struct BuiltinAgent {
    pub model: Arc<dyn ChatModel>,
    pub settings: AgentSettings,
    pub store: Store,
}

#[async_trait]
impl AgentRunner for BuiltinAgent {
    fn name(&self) -> &str {
        "built-in"
    }

    async fn run(&self, job: Job<'_>) -> anyhow::Result<JobEnd> {
        let saved = self.store.conversation(job.session.id).await?.is_some();
        let agent = Agent {
            model: self.model.as_ref(),
            sandbox: job.sandbox,
            store: job.steps.store,
            session: job.steps.session,
            checkpoints: job.steps.checkpoints,
            settings: &self.settings,
            inbox: job.inbox,
            stop: job.stop,
        };
        let end = match job.start {
            Start::Resume { said, .. } if saved => agent.resume(said).await?,
            // Nothing saved to resume (a run that never reached the model): the task
            // again, with what was said since.
            Start::Resume { task, said } => agent.run(&with_said(&task, &said)).await?,
            Start::Fresh { task } => agent.run(&task).await?,
        };
        Ok(job_end(end))
    }
}

fn with_said(task: &str, said: &[(String, String)]) -> String {
    said.iter()
        .fold(task.to_owned(), |mut text, (author, words)| {
            text.push_str(&format!("\n\n{author} said:\n{words}"));
            text
        })
}

/// The loop's ending in the port's terms.
pub fn job_end(end: AgentEnd) -> JobEnd {
    match end {
        AgentEnd::Finished { summary } => JobEnd::Finished { summary },
        AgentEnd::Stopped => JobEnd::Stopped,
        AgentEnd::StepLimit(_) | AgentEnd::TokenBudget(_) | AgentEnd::CostBudget(_) => {
            JobEnd::OutOfBudget {
                reason: end.describe(),
            }
        }
        other => JobEnd::Failed {
            reason: other.describe(),
        },
    }
}
