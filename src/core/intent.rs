//! What a request from a platform asks of lucid, in no platform's terms: every
//! platform's inbound half turns what it received into an [`Intent`], and
//! [`decide`](super::decide::decide) says what it means.

use super::ids::{DeliveryId, RepoRef};
use super::trigger::{Author, Platform, ThreadRef};
use serde::{Deserialize, Serialize};

/// Where a request came from, and so where lucid answers it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    /// The platform's id for this request: with the platform, the dedupe key.
    pub delivery: DeliveryId,
    /// The conversation it was made in, where lucid answers.
    pub thread: ThreadRef,
    pub author: Author,
    /// The message that asked, in the platform's own terms (to react to it); none
    /// when the request was no message (a label, a button).
    pub message: Option<String>,
    /// lucid was spoken to (a mention, a command, a button, an assignment), not
    /// overheard in a thread it follows.
    pub addressed: bool,
}

impl Origin {
    pub fn platform(&self) -> Platform {
        self.thread.platform()
    }
}

/// What was asked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ask {
    /// Work, or more words for the work in this thread. `text` is untrusted.
    Task {
        text: String,
        /// The repository the words name, if they name one.
        repo: Option<RepoRef>,
        /// A title the platform gives the work (an issue's, a task page's).
        title: Option<String>,
        /// The whole task a new session gets, where the platform has more to say than
        /// the words (an issue's title and body around a comment); else the words.
        whole: Option<String>,
    },
    /// Work handed over by putting it in a place (a task page moved to the trigger
    /// status): a new session, even in a thread whose last session has ended; nothing
    /// while one is still at work there. `task` is the whole task, untrusted.
    Handover {
        task: String,
        repo: Option<RepoRef>,
        title: Option<String>,
    },
    /// Stop the thread's session.
    Stop,
}

impl Ask {
    /// A task of these words, naming no repository and with no title.
    pub fn task(text: impl Into<String>) -> Ask {
        Ask::Task {
            text: text.into(),
            repo: None,
            title: None,
            whole: None,
        }
    }
}

/// Whether words said to lucid are the one word "stop" (punctuation aside).
pub fn is_stop(words: &str) -> bool {
    let words: Vec<&str> = words.split_whitespace().collect();
    matches!(words.as_slice(), [word] if word
        .trim_matches(|c: char| !c.is_alphanumeric())
        .eq_ignore_ascii_case("stop"))
}

/// Where a person asked the work tree to go back to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RevertTo {
    /// "undo": to the checkpoint before the last step's.
    LastStep,
    /// "revert to 3": to checkpoint 3.
    Checkpoint(u32),
}

impl RevertTo {
    /// The checkpoint named, if one was.
    pub fn checkpoint(self) -> Option<u32> {
        match self {
            RevertTo::LastStep => None,
            RevertTo::Checkpoint(n) => Some(n),
        }
    }
}

/// The words, lower case, without the punctuation around them.
fn plain_words(text: &str) -> Vec<String> {
    text.split_whitespace()
        .map(|w| {
            w.trim_matches(|c: char| !c.is_alphanumeric())
                .to_ascii_lowercase()
        })
        .filter(|w| !w.is_empty())
        .collect()
}

/// Whether words said to lucid ask to go back: the one word "undo", or "revert to
/// N", "revert to step N", "go back to step N" (case and punctuation aside; `#N`
/// too). Anything longer is work for the agent, not a request to lucid.
pub fn revert_asked(words: &str) -> Option<RevertTo> {
    let words = plain_words(words);
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    let number = match words.as_slice() {
        ["undo"] => return Some(RevertTo::LastStep),
        ["revert" | "rollback", "to", rest @ ..] | ["go", "back", "to", rest @ ..] => rest,
        _ => return None,
    };
    match number {
        [n] | ["step" | "checkpoint", n] => n.parse().ok().map(RevertTo::Checkpoint),
        _ => None,
    }
}

/// The port words said to lucid ask to preview: "preview 3000" or "preview port
/// 3000" (case and punctuation aside).
pub fn preview_asked(words: &str) -> Option<u16> {
    let words = plain_words(words);
    match words
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["preview", port] | ["preview", "port", port] => port.parse().ok().filter(|p| *p > 0),
        _ => None,
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Intent {
    pub origin: Origin,
    pub ask: Ask,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn undo_and_revert_are_read_from_the_words_alone() {
        assert_eq!(revert_asked("undo"), Some(RevertTo::LastStep));
        assert_eq!(revert_asked(" Undo! "), Some(RevertTo::LastStep));
        assert_eq!(revert_asked("revert to 3"), Some(RevertTo::Checkpoint(3)));
        assert_eq!(
            revert_asked("Revert to step #12."),
            Some(RevertTo::Checkpoint(12))
        );
        assert_eq!(
            revert_asked("go back to checkpoint 0"),
            Some(RevertTo::Checkpoint(0))
        );
        assert_eq!(revert_asked("undo the change to calc.py"), None);
        assert_eq!(revert_asked("revert to the old parser"), None);
        assert_eq!(revert_asked(""), None);
    }

    #[test]
    fn a_preview_names_a_port() {
        assert_eq!(preview_asked("preview 3000"), Some(3000));
        assert_eq!(preview_asked("Preview port 8080."), Some(8080));
        assert_eq!(preview_asked("preview 0"), None);
        assert_eq!(preview_asked("preview 70000"), None);
        assert_eq!(preview_asked("preview the docs site"), None);
    }
}
