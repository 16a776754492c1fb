//! Going back to a checkpoint, as someone asked from the thread, the page or the API:
//! the work tree is restored, that is logged (the files changed back as file edits),
//! and the agent is told, whichever agent it is. Asked while the agent works, it is
//! done as soon as asked; asked of a finished session, which that takes up again, it
//! is done before the agent starts.

use crate::agent::{Said, StepLog};
use crate::core::{Event, EventBody};
use crate::forge::checkpoint::Checkpoints;
use crate::messages;
use crate::sandbox::Workspace;
use crate::store::StoreError;

/// Who answers the agent's inbox for lucid itself.
const LUCID: &str = "lucid";

/// A request to go back: who asked, and to which checkpoint (`None`: undo the last
/// step).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Asked {
    pub author: String,
    pub checkpoint: Option<u32>,
}

impl Asked {
    pub fn from_event(body: &EventBody) -> Option<Asked> {
        match body {
            EventBody::RevertAsked { author, checkpoint } => Some(Asked {
                author: author.clone(),
                checkpoint: *checkpoint,
            }),
            _ => None,
        }
    }
}

/// The requests in `history` no run has answered yet (each answer, done or refused,
/// answers the oldest open one: they are done in the order asked).
pub fn unanswered(history: &[Event]) -> Vec<Asked> {
    let mut open = std::collections::VecDeque::new();
    for event in history {
        match &event.body {
            EventBody::Reverted { .. } | EventBody::RevertRefused { .. } => {
                open.pop_front();
            }
            body => open.extend(Asked::from_event(body)),
        }
    }
    open.into()
}

/// Does what was asked, tells the agent (through `tell`) and logs it. The agent is
/// told the moment the files are back, before anything is logged: a command of its
/// waiting on the files can end at once, and its next model request must already
/// carry the news.
pub async fn go_back(
    steps: &StepLog<'_>,
    workspace: &Workspace,
    asked: &Asked,
    tell: impl FnOnce(Said),
) -> Result<(), StoreError> {
    let outcome = match steps.checkpoints {
        Some(checkpoints) => restore(steps, checkpoints, workspace, asked).await?,
        None => Err(messages::steps_not_kept()),
    };
    match outcome {
        Ok(Restored {
            checkpoint,
            files,
            logged,
        }) => {
            tell((
                LUCID.to_owned(),
                messages::agent_went_back(&asked.author, checkpoint, &files),
            ));
            if let Some(logged) = logged {
                steps.log_checkpoint(logged).await?;
            }
            steps.log(EventBody::Reverted { checkpoint, files }).await
        }
        Err(reason) => {
            tell((
                LUCID.to_owned(),
                messages::agent_could_not_go_back(&asked.author, &reason),
            ));
            steps.log(EventBody::RevertRefused { reason }).await
        }
    }
}

/// The work tree as it is after going back.
struct Restored {
    /// The checkpoint gone back to.
    checkpoint: u32,
    /// The files changed back.
    files: Vec<String>,
    /// The new checkpoint that records going back, to be logged.
    logged: Option<crate::forge::checkpoint::Checkpoint>,
}

/// The work tree restored, or why not (in words for the thread).
async fn restore(
    steps: &StepLog<'_>,
    checkpoints: &Checkpoints,
    workspace: &Workspace,
    asked: &Asked,
) -> Result<Result<Restored, String>, StoreError> {
    let last = match checkpoints.list().await {
        Ok(all) => all.last().map_or(0, |c| c.number),
        Err(e) => return Ok(Err(e.to_string())),
    };
    let target = match asked.checkpoint {
        None if last == 0 => return Ok(Err(messages::nothing_to_undo())),
        None => last - 1,
        Some(n) if n > last => return Ok(Err(messages::no_such_step(n, last))),
        Some(n) => n,
    };
    // Whatever changed since the last step is kept as a step of its own first, so
    // going back loses nothing that cannot be gone back to.
    steps.after_step("before going back").await?;
    let restored = match checkpoints.restore(target).await {
        Ok(restored) => restored,
        Err(e) => return Ok(Err(e.to_string())),
    };
    // Written by lucid on the host: the sandbox's user must be able to edit them.
    if let Err(e) = workspace.hand_over() {
        tracing::warn!(error = %e, "could not hand the restored files over");
    }
    let files = restored.as_ref().map_or_else(Vec::new, |checkpoint| {
        checkpoint.changes.iter().map(|c| c.path.clone()).collect()
    });
    Ok(Ok(Restored {
        checkpoint: target,
        files,
        logged: restored,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{SessionId, Timestamp};

    fn event(seq: u64, body: EventBody) -> Event {
        Event {
            session: SessionId::new(),
            seq,
            at: Timestamp::from_millis(0),
            body,
        }
    }

    fn asked(checkpoint: Option<u32>) -> EventBody {
        EventBody::RevertAsked {
            author: "ada".into(),
            checkpoint,
        }
    }

    #[test]
    fn each_answer_closes_the_oldest_request() {
        let history = [
            event(1, asked(None)),
            event(2, asked(Some(1))),
            event(
                3,
                EventBody::Reverted {
                    checkpoint: 2,
                    files: vec![],
                },
            ),
            event(4, asked(Some(0))),
        ];
        let open: Vec<Option<u32>> = unanswered(&history)
            .into_iter()
            .map(|a| a.checkpoint)
            .collect();
        assert_eq!(open, [Some(1), Some(0)]);
        let refused = event(
            5,
            EventBody::RevertRefused {
                reason: "no".into(),
            },
        );
        let mut all = history.to_vec();
        all.push(refused);
        assert_eq!(unanswered(&all).len(), 1);
    }
}
