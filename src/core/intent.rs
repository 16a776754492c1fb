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
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "ask", rename_all = "snake_case")]
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
        /// Made from the words without their leading agent choice ([`agent_asked`]).
        whole: Option<String>,
        /// The agent asked for outside the words (a command's option, a form's
        /// field): it beats one the words name. Only a new session chooses.
        agent: Option<String>,
    },
    /// Work handed over by putting it in a place (a task page moved to the trigger
    /// status): a new session, even in a thread whose last session has ended; nothing
    /// while one is still at work there. `task` is the whole task, untrusted.
    Handover {
        task: String,
        repo: Option<RepoRef>,
        title: Option<String>,
        /// The agent the place asks for (a task page's property).
        agent: Option<String>,
    },
    /// Stop the thread's session.
    Stop,
    /// Answer the agent's permission request `number` (none: the one that waits),
    /// from a button.
    Permission { number: Option<u32>, allow: bool },
}

impl Ask {
    /// A task of these words, naming no repository and with no title.
    pub fn task(text: impl Into<String>) -> Ask {
        Ask::Task {
            text: text.into(),
            repo: None,
            title: None,
            whole: None,
            agent: None,
        }
    }
}

/// What lucid's own agent is called when a request names it (`with built-in: …`).
pub const BUILT_IN_AGENT: &str = "built-in";

/// The agent a task's words ask for at their very start, "with gemini: fix the bug",
/// "using claude, fix the bug" (case aside; the id may be in backticks), when `known`
/// has it: the id as `known` spells it, and the task after it, trimmed (maybe empty).
/// Words that only look like one ("with care: …", where no agent is called `care`)
/// are the task, untouched.
pub fn agent_asked<'k, 't>(text: &'t str, known: &'k [String]) -> Option<(&'k str, &'t str)> {
    // What a platform leaves before the words once it took its mention out
    // (`@lucid, with gemini: …`).
    let text = text.trim_start_matches(|c: char| c.is_whitespace() || matches!(c, ',' | ':' | ';'));
    let word_end = text.find(char::is_whitespace)?;
    let (word, rest) = text.split_at(word_end);
    if !word.eq_ignore_ascii_case("with") && !word.eq_ignore_ascii_case("using") {
        return None;
    }
    let rest = rest.trim_start();
    let (quoted, rest) = match rest.strip_prefix('`') {
        Some(rest) => (true, rest),
        None => (false, rest),
    };
    let id_end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .unwrap_or(rest.len());
    let (id, mut rest) = rest.split_at(id_end);
    if quoted {
        rest = rest.strip_prefix('`')?;
    }
    let rest = rest.trim_start_matches([' ', '\t']);
    let rest = rest.strip_prefix([':', ','])?;
    let known = known
        .iter()
        .find(|k| !id.is_empty() && k.eq_ignore_ascii_case(id))?;
    Some((known.as_str(), rest.trim()))
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

/// Whether words said to lucid answer the agent's permission request: "allow" /
/// "approve" or "reject" / "deny", alone or with the request's number ("allow 2",
/// "reject #2"), case and punctuation aside. Answers (allowed, number).
pub fn permission_answered(words: &str) -> Option<(bool, Option<u32>)> {
    let words = plain_words(words);
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    let (verb, number) = match words.as_slice() {
        [verb] => (*verb, None),
        [verb, n] => (*verb, Some(n.parse().ok()?)),
        _ => return None,
    };
    let allow = match verb {
        "allow" | "approve" => true,
        "reject" | "deny" => false,
        _ => return None,
    };
    Some((allow, number))
}

/// What a person asks of the forge account linked to their name on a chat platform.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccountAsk {
    /// Link a forge account (or replace the one linked): the forge's device flow.
    Login,
    /// Forget the linked account and its token.
    Logout,
}

/// Whether words said to lucid ask to link or unlink the person's forge account:
/// "login" / "log in", or "logout" / "log out" (case and punctuation aside). Anything
/// longer is work for the agent.
pub fn account_asked(words: &str) -> Option<AccountAsk> {
    let words = plain_words(words);
    match words
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["login"] | ["log", "in"] => Some(AccountAsk::Login),
        ["logout"] | ["log", "out"] => Some(AccountAsk::Logout),
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

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Intent {
    pub origin: Origin,
    pub ask: Ask,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_permission_is_answered_in_one_word_and_maybe_its_number() {
        assert_eq!(permission_answered("allow"), Some((true, None)));
        assert_eq!(permission_answered("Approve."), Some((true, None)));
        assert_eq!(permission_answered("reject #2"), Some((false, Some(2))));
        assert_eq!(permission_answered("deny 3"), Some((false, Some(3))));
        assert_eq!(permission_answered("allow it"), None);
        assert_eq!(permission_answered("allow tabs in the linter"), None);
        assert_eq!(permission_answered("please reject"), None);
    }

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

    fn ids(ids: &[&str]) -> Vec<String> {
        ids.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_leading_with_or_using_names_a_known_agent() {
        let known = ids(&["built-in", "claude", "gemini", "codex-2"]);
        let asked = |text| agent_asked(text, &known);
        assert_eq!(
            asked("with gemini: fix the bug"),
            Some(("gemini", "fix the bug"))
        );
        assert_eq!(
            asked("with gemini, fix the bug"),
            Some(("gemini", "fix the bug"))
        );
        assert_eq!(asked("using claude: fix it"), Some(("claude", "fix it")));
        assert_eq!(asked("With Gemini: Fix It"), Some(("gemini", "Fix It")));
        assert_eq!(asked("USING CLAUDE,fix"), Some(("claude", "fix")));
        assert_eq!(asked("  with `gemini`: fix"), Some(("gemini", "fix")));
        assert_eq!(asked("with gemini : fix"), Some(("gemini", "fix")));
        assert_eq!(asked(", with codex-2: go"), Some(("codex-2", "go")));
        assert_eq!(asked("with built-in: go"), Some(("built-in", "go")));
        assert_eq!(
            asked("with gemini:\n\nfix the bug\nin acme/app"),
            Some(("gemini", "fix the bug\nin acme/app"))
        );
        // Named, with nothing to do: the caller decides what that means.
        assert_eq!(asked("with gemini:"), Some(("gemini", "")));
        assert_eq!(asked("with gemini:   "), Some(("gemini", "")));
    }

    #[test]
    fn words_that_only_look_like_a_choice_are_the_task() {
        let known = ids(&["built-in", "gemini"]);
        let asked = |text| agent_asked(text, &known);
        // Not an agent here.
        assert_eq!(asked("with care: fix it"), None);
        assert_eq!(asked("using claude: fix it"), None);
        // Not at the start.
        assert_eq!(asked("fix it with gemini: now"), None);
        assert_eq!(asked("please, with gemini: fix it"), None);
        // No separator right after the id.
        assert_eq!(asked("with gemini fix the bug"), None);
        assert_eq!(asked("with gemini"), None);
        assert_eq!(asked("with gemini's help: fix it"), None);
        assert_eq!(asked("with gemini-pro: fix it"), None);
        assert_eq!(asked("with `gemini: fix"), None);
        // Other words.
        assert_eq!(asked("without gemini: fix"), None);
        assert_eq!(asked("withgemini: fix"), None);
        assert_eq!(asked("with : fix"), None);
        assert_eq!(asked("with"), None);
        assert_eq!(asked(""), None);
        assert_eq!(agent_asked("with gemini: fix", &[]), None);
    }

    #[test]
    fn login_and_logout_are_one_word_or_two() {
        assert_eq!(account_asked("login"), Some(AccountAsk::Login));
        assert_eq!(account_asked(" Log in! "), Some(AccountAsk::Login));
        assert_eq!(account_asked("LOGOUT."), Some(AccountAsk::Logout));
        assert_eq!(account_asked("log out"), Some(AccountAsk::Logout));
        assert_eq!(account_asked("fix the login page"), None);
        assert_eq!(account_asked("login to acme/app"), None);
        assert_eq!(account_asked("log"), None);
        assert_eq!(account_asked(""), None);
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
