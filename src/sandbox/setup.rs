//! Prepared sandboxes, in the port's terms: a repository's setup (its
//! `.lucid/setup.sh`) is run once, before the agent, and what it leaves in the
//! sandbox's home is kept and reused by later sessions on the repository whose setup
//! inputs hash the same.

use super::{CommandResult, OutputChunk};
use std::time::Duration;

/// A repository's setup, as the port is asked to prepare it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Setup {
    /// The repository it prepares (`acme/app`), kept with the prepared state.
    pub repository: String,
    /// What the prepared state is kept and found by: a hash (hex) of the repository
    /// and every setup input (the script, the lockfiles).
    pub key: String,
    /// The bash command line that runs it, in `/workspace`.
    pub command: String,
}

/// The sandbox, made ready from a prepared state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Prepared {
    /// The prepared state's name (an image on Docker).
    pub image: String,
    /// Kept from an earlier session: the setup did not run now.
    pub reused: bool,
    /// From the call to the sandbox ready for the agent, the setup included.
    pub took: Duration,
    /// The setup's run, when it ran now.
    pub setup: Option<CommandResult>,
}

/// What a preparation says while it goes on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SetupNews {
    /// The setup starts running now (nothing prepared could be reused).
    Started,
    /// It printed this.
    Output(OutputChunk),
}

/// The last `lines` lines of `text`, at most `chars` characters (whole lines kept
/// where they fit, the first one cut from its start otherwise).
pub fn tail(text: &str, lines: usize, chars: usize) -> String {
    let kept: Vec<&str> = text.trim_end().lines().rev().take(lines).collect();
    let joined = kept.into_iter().rev().collect::<Vec<_>>().join("\n");
    let count = joined.chars().count();
    if count <= chars {
        return joined;
    }
    let cut: String = joined.chars().skip(count - chars).collect();
    format!("…{cut}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tail_keeps_the_last_lines_within_the_cap() {
        let text = (1..=30).map(|i| format!("line {i}\n")).collect::<String>();
        assert_eq!(tail(&text, 2, 1000), "line 29\nline 30");
        assert_eq!(tail(&text, 2, 4), "…e 30");
        assert_eq!(tail("", 5, 100), "");
        assert_eq!(tail("one\n\n", 5, 100), "one");
    }
}
