//! A session's run as a person follows it: read from its event log in one pass, and
//! the one source of every platform's status message and replies.

use super::event::{Event, EventBody};
use super::session::{SessionState, Usage};
use super::time::Timestamp;
use super::words::diff_counts;

/// One thing the agent did, as a checklist shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step<'a> {
    Command {
        command: &'a str,
        /// None while it runs, or when it never finished.
        exit_code: Option<i64>,
    },
    Edit {
        path: &'a str,
        added: usize,
        removed: usize,
        /// The checkpoint the change is in, to go back to from the thread.
        checkpoint: Option<u32>,
    },
    /// The work tree went back to a checkpoint, as someone asked.
    Reverted {
        checkpoint: u32,
        files: usize,
    },
    /// Going back was asked and could not be done.
    RevertRefused {
        reason: &'a str,
    },
    /// A preview was asked and could not be opened.
    PreviewRefused {
        reason: &'a str,
    },
    Pr {
        number: u64,
        url: &'a str,
    },
    Said {
        author: &'a str,
        text: &'a str,
    },
}

/// What the run's log says, read in one pass.
#[derive(Clone, Debug, Default)]
pub struct Digest<'a> {
    pub steps: Vec<Step<'a>>,
    /// The step of the command still running: the last command, if no output with an
    /// exit code came after it.
    pub in_flight: Option<usize>,
    pub last_thought: Option<&'a str>,
    pub last_error: Option<&'a str>,
    pub last_pr: Option<(u64, &'a str)>,
    pub last_usage: Option<Usage>,
    /// The message of the last status event that completed the session.
    pub completed_message: Option<&'a str>,
    /// The message of the last status event that failed the session.
    pub failed_message: Option<&'a str>,
    pub last_at: Option<Timestamp>,
    /// The newest checkpoint so far.
    pub checkpoint: Option<u32>,
    /// The live preview opened last: its port and link.
    pub preview: Option<(u16, &'a str)>,
    /// The agent's permission request waiting for a person, if one waits.
    pub waiting: Option<Waiting<'a>>,
}

/// A permission request waiting for a person's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Waiting<'a> {
    pub number: u32,
    pub title: &'a str,
    pub within_secs: u64,
    /// When it was asked.
    pub at: Timestamp,
}

impl<'a> Digest<'a> {
    pub fn read(events: &'a [Event]) -> Self {
        let mut digest = Digest::default();
        for event in events {
            digest.add(event);
        }
        digest
    }

    fn add(&mut self, event: &'a Event) {
        self.last_at = Some(event.at);
        match &event.body {
            EventBody::Thought { text } => self.last_thought = Some(text),
            EventBody::Command { command } => {
                self.in_flight = Some(self.steps.len());
                self.steps.push(Step::Command {
                    command,
                    exit_code: None,
                });
            }
            EventBody::Output {
                exit_code: Some(code),
                ..
            } => {
                if let Some(Step::Command { exit_code, .. }) =
                    self.in_flight.take().map(|i| &mut self.steps[i])
                {
                    *exit_code = Some(*code);
                }
            }
            EventBody::Output { .. } => {}
            EventBody::FileEdit { path, diff } => {
                let (added, removed) = diff_counts(diff);
                self.steps.push(Step::Edit {
                    path,
                    added,
                    removed,
                    checkpoint: self.checkpoint,
                });
            }
            EventBody::Status { state, message } => {
                // A run that ended waits for no answer.
                if state.is_terminal() {
                    self.waiting = None;
                }
                match state {
                    SessionState::Completed => self.completed_message = message.as_deref(),
                    SessionState::Failed => self.failed_message = message.as_deref(),
                    _ => {}
                }
            }
            EventBody::UserMessage { author, text } => self.steps.push(Step::Said { author, text }),
            EventBody::PrOpened { url, number } => {
                self.last_pr = Some((*number, url));
                self.steps.push(Step::Pr {
                    number: *number,
                    url,
                });
            }
            EventBody::Usage {
                tokens_in,
                tokens_out,
                cost_micros,
            } => {
                self.last_usage = Some(Usage {
                    tokens_in: *tokens_in,
                    tokens_out: *tokens_out,
                    cost_micros: *cost_micros,
                })
            }
            EventBody::Error { message } => self.last_error = Some(message),
            EventBody::Checkpoint { number, .. } => self.checkpoint = Some(*number),
            EventBody::RevertAsked { .. } => {}
            EventBody::Reverted { checkpoint, files } => self.steps.push(Step::Reverted {
                checkpoint: *checkpoint,
                files: files.len(),
            }),
            EventBody::RevertRefused { reason } => self.steps.push(Step::RevertRefused { reason }),
            EventBody::PreviewAsked { .. }
            | EventBody::HostReached { .. }
            | EventBody::Prepared { .. }
            | EventBody::PermissionAnswered { .. }
            | EventBody::AgentLog { .. } => {}
            EventBody::PermissionAsked {
                number,
                title,
                within_secs,
                ..
            } => {
                self.waiting = Some(Waiting {
                    number: *number,
                    title,
                    within_secs: *within_secs,
                    at: event.at,
                })
            }
            EventBody::PermissionSettled { number, .. } => {
                self.waiting = self.waiting.filter(|w| w.number != *number);
            }

            EventBody::PreviewOpened { port, url } => self.preview = Some((*port, url)),
            EventBody::PreviewRefused { reason } => {
                self.steps.push(Step::PreviewRefused { reason })
            }
        }
    }

    /// The command running now, if one is.
    pub fn running(&self) -> Option<&'a str> {
        match self.in_flight.map(|i| &self.steps[i]) {
            Some(Step::Command { command, .. }) => Some(command),
            _ => None,
        }
    }
}

/// Words in a command line that say it runs tests.
const TEST_WORDS: [&str; 5] = ["test", "check", "spec", "jest", "tox"];

/// The last command that ran tests (its words say so: `pytest`, `cargo test`, `make
/// check`…), and its exit code once it ended.
pub fn last_test(events: &[Event]) -> Option<(&str, Option<i64>)> {
    let mut last = None;
    let mut running: Option<&str> = None;
    for event in events {
        match &event.body {
            EventBody::Command { command } => {
                let lower = command.to_ascii_lowercase();
                running = TEST_WORDS
                    .iter()
                    .any(|w| lower.contains(w))
                    .then_some(command.as_str());
                if let Some(command) = running {
                    last = Some((command, None));
                }
            }
            EventBody::Output {
                exit_code: Some(code),
                ..
            } => {
                if let Some(command) = running.take() {
                    last = Some((command, Some(*code)));
                }
            }
            _ => {}
        }
    }
    last
}

/// A moment worth a reply of its own in a thread that takes replies. (The pull
/// request is not one: the run's ending links it, once.)
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Moment<'a> {
    /// A command that exited non-zero, with what it printed.
    CommandFailed {
        command: &'a str,
        exit_code: i64,
        output: &'a str,
    },
    /// A file changed; `seq` is its event's number (to link to the whole diff).
    FileEdited {
        path: &'a str,
        diff: &'a str,
        seq: u64,
    },
    /// A port of the sandbox is served at `url`.
    PreviewOpened { port: u16, url: &'a str },
    /// A preview was asked and could not be opened.
    PreviewRefused { reason: &'a str },
    /// The agent asks leave to do something, and waits for a person.
    PermissionAsked {
        number: u32,
        title: &'a str,
        within_secs: u64,
    },
}

/// The moments that `new` events make, in order. `before` is the run's log up to them
/// (to pair an exit code with its command).
pub fn moments<'a>(before: &'a [Event], new: &'a [Event]) -> Vec<Moment<'a>> {
    let mut command = before.iter().rev().find_map(|e| match &e.body {
        EventBody::Command { command } => Some(command.as_str()),
        _ => None,
    });
    let mut out = Vec::new();
    for event in new {
        match &event.body {
            EventBody::Command { command: c } => command = Some(c),
            EventBody::Output {
                text,
                exit_code: Some(code),
            } if *code != 0 => out.push(Moment::CommandFailed {
                command: command.unwrap_or("a command"),
                exit_code: *code,
                output: text,
            }),
            EventBody::FileEdit { path, diff } => out.push(Moment::FileEdited {
                path,
                diff,
                seq: event.seq,
            }),
            EventBody::PreviewOpened { port, url } => {
                out.push(Moment::PreviewOpened { port: *port, url })
            }
            EventBody::PreviewRefused { reason } => out.push(Moment::PreviewRefused { reason }),
            EventBody::PermissionAsked {
                number,
                title,
                within_secs,
                ..
            } => out.push(Moment::PermissionAsked {
                number: *number,
                title,
                within_secs: *within_secs,
            }),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::SessionId;

    fn event(seq: u64, body: EventBody) -> Event {
        Event {
            session: SessionId::new(),
            seq,
            at: Timestamp::from_millis(seq as i64),
            body,
        }
    }

    #[test]
    fn a_command_is_in_flight_until_its_exit_code_comes() {
        let started = [event(
            1,
            EventBody::Command {
                command: "make".into(),
            },
        )];
        assert_eq!(Digest::read(&started).running(), Some("make"));
        let mut ended = started.to_vec();
        ended.push(event(
            2,
            EventBody::Output {
                text: "ok".into(),
                exit_code: Some(0),
            },
        ));
        let digest = Digest::read(&ended);
        assert_eq!(digest.running(), None);
        assert_eq!(
            digest.steps,
            [Step::Command {
                command: "make",
                exit_code: Some(0)
            }]
        );
    }

    #[test]
    fn the_last_test_is_the_last_command_that_says_it_tests() {
        let command = |seq, c: &str| event(seq, EventBody::Command { command: c.into() });
        let exit = |seq, code| {
            event(
                seq,
                EventBody::Output {
                    text: String::new(),
                    exit_code: Some(code),
                },
            )
        };
        let log = [
            command(1, "python3 -m pytest -q"),
            exit(2, 1),
            command(3, "sed -i s/a/b/ calc.py"),
            exit(4, 0),
        ];
        assert_eq!(last_test(&log), Some(("python3 -m pytest -q", Some(1))));
        let mut more = log.to_vec();
        more.extend([command(5, "make check"), exit(6, 0)]);
        assert_eq!(last_test(&more), Some(("make check", Some(0))));
        more.push(command(7, "cargo test"));
        assert_eq!(last_test(&more), Some(("cargo test", None)));
        assert_eq!(last_test(&log[2..]), None);
    }

    #[test]
    fn moments_pair_a_failure_with_the_command_logged_before() {
        let before = [event(
            3,
            EventBody::Command {
                command: "make test".into(),
            },
        )];
        let new = [
            event(
                4,
                EventBody::Output {
                    text: "boom".into(),
                    exit_code: Some(2),
                },
            ),
            event(
                5,
                EventBody::Output {
                    text: String::new(),
                    exit_code: Some(0),
                },
            ),
            event(
                6,
                EventBody::PrOpened {
                    url: "u".into(),
                    number: 3,
                },
            ),
        ];
        // The pull request is no moment: the ending links it, once.
        assert_eq!(
            moments(&before, &new),
            [Moment::CommandFailed {
                command: "make test",
                exit_code: 2,
                output: "boom"
            }]
        );
    }
}
