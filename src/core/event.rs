//! The per-session event log: every step of a session, numbered, append-only. The
//! store's copy is the source of truth; the web stream, the thread renderers and
//! resuming a session all read it.

use super::ids::SessionId;
use super::session::{SessionState, Usage};
use super::time::Timestamp;
use serde::{Deserialize, Serialize};

/// What happened. Serialized with a `kind` tag, which is also what the store indexes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventBody {
    /// The model's own words between actions.
    Thought {
        text: String,
    },
    /// A command the agent started in the sandbox.
    Command {
        command: String,
    },
    /// What a command printed, and its exit code once it ended.
    Output {
        text: String,
        exit_code: Option<i64>,
    },
    /// A change to a file, as a unified diff computed on the host.
    FileEdit {
        path: String,
        diff: String,
    },
    /// The session moved to a new state.
    Status {
        state: SessionState,
        message: Option<String>,
    },
    /// Someone in the thread said something to the running agent.
    UserMessage {
        author: String,
        text: String,
    },
    PrOpened {
        url: String,
        number: u64,
    },
    /// Totals so far for the session, not the step's own.
    Usage {
        tokens_in: u64,
        tokens_out: u64,
        cost_micros: u64,
    },
    Error {
        message: String,
    },
    /// The work tree after a step that changed it, kept to go back to: checkpoint
    /// `number` (0 is the work tree as checked out), the step's `label` (the tool
    /// that ran) and the files it changed. Its file edits follow it in the log.
    Checkpoint {
        number: u32,
        label: String,
        files: Vec<String>,
    },
    /// Someone asked to go back: to checkpoint `checkpoint`, or (none) to the one
    /// before the last step's.
    RevertAsked {
        author: String,
        checkpoint: Option<u32>,
    },
    /// The work tree went back to checkpoint `checkpoint`, as asked; `files` are those
    /// that changed back (their edits follow in the log).
    Reverted {
        checkpoint: u32,
        files: Vec<String>,
    },
    /// A revert that could not be done, and why, in words for the thread.
    RevertRefused {
        reason: String,
    },
    /// Someone (a person in the thread, or the agent) asked to publish a port of the
    /// sandbox as a live preview.
    PreviewAsked {
        author: String,
        port: u16,
    },
    /// The port is served at `url` (guarded by the session's share token) while the
    /// sandbox lives.
    PreviewOpened {
        port: u16,
        url: String,
    },
    /// A preview that could not be opened, and why, in words for the thread.
    PreviewRefused {
        reason: String,
    },
    /// One connection the sandbox made through lucid's registry proxy, when it ended:
    /// the host, the bytes each way, and why it was refused or failed, if it was.
    HostReached {
        host: String,
        port: u16,
        bytes_up: u64,
        bytes_down: u64,
        refused: Option<String>,
        error: Option<String>,
    },
    /// What an external agent wrote to its stderr during one run (head and tail when
    /// long): its own log, kept for whoever wants to know what it did or why it died.
    AgentLog {
        agent: String,
        text: String,
    },
    /// The agent asks leave to do something (`title`: what, in its words; `tool`: the
    /// protocol's kind of tool, `execute`, `edit`, `delete`…) and waits, at most
    /// `within_secs`, for a person to answer (the `ask` permission policy).
    PermissionAsked {
        number: u32,
        title: String,
        tool: Option<String>,
        within_secs: u64,
    },
    /// A person answered a permission request: request `number` (none: the one that
    /// waits), allowed or not. Only the agent's run settles it.
    PermissionAnswered {
        author: String,
        number: Option<u32>,
        allow: bool,
    },
    /// How permission request `number` ended, and who answered it (none: nobody, for
    /// a timeout or a stop).
    PermissionSettled {
        number: u32,
        outcome: PermissionOutcome,
        by: Option<String>,
    },
    /// The sandbox was made ready from the repository's prepared state (`image`):
    /// kept from an earlier session (`reused`), or made now by running its setup
    /// (logged before this as a command and its output), in `took_ms` all told.
    Prepared {
        image: String,
        reused: bool,
        took_ms: u64,
    },
}

/// How a permission request ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PermissionOutcome {
    Allowed,
    Rejected,
    /// Nobody answered in time: rejected.
    TimedOut,
    /// The turn was cancelled (a stop, an interruption) while it waited.
    Cancelled,
}

impl EventBody {
    pub fn kind(&self) -> &'static str {
        match self {
            EventBody::Thought { .. } => "thought",
            EventBody::Command { .. } => "command",
            EventBody::Output { .. } => "output",
            EventBody::FileEdit { .. } => "file_edit",
            EventBody::Status { .. } => "status",
            EventBody::UserMessage { .. } => "user_message",
            EventBody::PrOpened { .. } => "pr_opened",
            EventBody::Usage { .. } => "usage",
            EventBody::Error { .. } => "error",
            EventBody::Checkpoint { .. } => "checkpoint",
            EventBody::RevertAsked { .. } => "revert_asked",
            EventBody::Reverted { .. } => "reverted",
            EventBody::RevertRefused { .. } => "revert_refused",
            EventBody::PreviewAsked { .. } => "preview_asked",
            EventBody::PreviewOpened { .. } => "preview_opened",
            EventBody::PreviewRefused { .. } => "preview_refused",
            EventBody::HostReached { .. } => "host_reached",
            EventBody::Prepared { .. } => "prepared",
            EventBody::AgentLog { .. } => "agent_log",
            EventBody::PermissionAsked { .. } => "permission_asked",
            EventBody::PermissionAnswered { .. } => "permission_answered",
            EventBody::PermissionSettled { .. } => "permission_settled",
        }
    }

    pub fn usage(usage: Usage) -> Self {
        EventBody::Usage {
            tokens_in: usage.tokens_in,
            tokens_out: usage.tokens_out,
            cost_micros: usage.cost_micros,
        }
    }
}

/// One numbered entry of a session's log. `seq` starts at 1 and has no gaps.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Event {
    pub session: SessionId,
    pub seq: u64,
    pub at: Timestamp,
    #[serde(flatten)]
    pub body: EventBody,
}

/// The events of a session's current run: from the last time it was queued on (a
/// resumed session runs again after its first run's events).
pub fn current_run(events: &[Event]) -> &[Event] {
    let start = events
        .iter()
        .rposition(|e| {
            matches!(
                e.body,
                EventBody::Status {
                    state: SessionState::Queued,
                    ..
                }
            )
        })
        .unwrap_or(0);
    &events[start..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_serialize_with_the_kind_they_report() {
        let bodies = [
            EventBody::Thought { text: "t".into() },
            EventBody::Command {
                command: "ls".into(),
            },
            EventBody::Output {
                text: "a".into(),
                exit_code: Some(0),
            },
            EventBody::FileEdit {
                path: "a.rs".into(),
                diff: "-a\n+b\n".into(),
            },
            EventBody::Status {
                state: SessionState::Running,
                message: None,
            },
            EventBody::UserMessage {
                author: "ada".into(),
                text: "also fix docs".into(),
            },
            EventBody::PrOpened {
                url: "https://example.test/pr/1".into(),
                number: 1,
            },
            EventBody::usage(Usage {
                tokens_in: 10,
                tokens_out: 5,
                cost_micros: 42,
            }),
            EventBody::Error {
                message: "boom".into(),
            },
            EventBody::Checkpoint {
                number: 2,
                label: "shell".into(),
                files: vec!["a.rs".into()],
            },
            EventBody::RevertAsked {
                author: "ada".into(),
                checkpoint: None,
            },
            EventBody::Reverted {
                checkpoint: 1,
                files: vec!["a.rs".into()],
            },
            EventBody::RevertRefused {
                reason: "no".into(),
            },
            EventBody::PreviewAsked {
                author: "ada".into(),
                port: 3000,
            },
            EventBody::PreviewOpened {
                port: 3000,
                url: "https://lucid.test/preview/s/".into(),
            },
            EventBody::PreviewRefused {
                reason: "no network".into(),
            },
            EventBody::HostReached {
                host: "pypi.org".into(),
                port: 443,
                bytes_up: 10,
                bytes_down: 2000,
                refused: None,
                error: None,
            },
            EventBody::Prepared {
                image: "lucid-prepared:ab12".into(),
                reused: true,
                took_ms: 840,
            },
            EventBody::AgentLog {
                agent: "gemini".into(),
                text: "starting\n".into(),
            },
            EventBody::PermissionAsked {
                number: 1,
                title: "rm -rf build".into(),
                tool: Some("delete".into()),
                within_secs: 300,
            },
            EventBody::PermissionAnswered {
                author: "ada".into(),
                number: Some(1),
                allow: true,
            },
            EventBody::PermissionSettled {
                number: 1,
                outcome: PermissionOutcome::TimedOut,
                by: None,
            },
        ];
        for body in bodies {
            let json = serde_json::to_value(&body).unwrap();
            assert_eq!(json["kind"], body.kind());
            assert_eq!(serde_json::from_value::<EventBody>(json).unwrap(), body);
        }
    }

    #[test]
    fn the_current_run_starts_at_the_last_queueing() {
        let session = SessionId::new();
        let event = |seq, body| Event {
            session,
            seq,
            at: Timestamp::from_millis(0),
            body,
        };
        let queued = || EventBody::Status {
            state: SessionState::Queued,
            message: None,
        };
        let said = |text: &str| EventBody::UserMessage {
            author: "ada".into(),
            text: text.into(),
        };
        let log = [
            event(1, queued()),
            event(2, said("first")),
            event(3, queued()),
            event(4, said("again")),
        ];
        let run: Vec<u64> = current_run(&log).iter().map(|e| e.seq).collect();
        assert_eq!(run, [3, 4]);
        assert_eq!(
            current_run(&log[1..2]).len(),
            1,
            "no queueing: the whole log"
        );
    }
}
