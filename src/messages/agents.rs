//! What is said about external agents (over the Agent Client Protocol): why a run of
//! one ended, and their plans.

use super::Text;
use crate::core::PermissionOutcome;
use std::time::Duration;

/// The buttons that answer a permission request.
pub const ALLOW_BUTTON: &str = "Allow";
pub const REJECT_BUTTON: &str = "Reject";

/// Said only to a person who pressed Allow or Reject without being one lucid was set
/// up for.
pub fn may_not_answer() -> Text {
    Text::new().plain("Only the people I was set up for can answer the agent's requests.")
}

/// How long a permission request waits, in words.
fn within(secs: u64) -> String {
    humantime::format_duration(Duration::from_secs(secs)).to_string()
}

/// The agent asks leave to do something: the thread is asked, the same way on every
/// platform (words work everywhere; buttons, where there are, are a shortcut).
pub fn permission_asked(number: u32, title: &str, within_secs: u64) -> Text {
    Text::new()
        .emoji("raised_hand")
        .plain(format!(" The agent asks leave (request {number}): "))
        .code(super::shorten(&super::one_line(title), 300))
        .plain(format!(
            ". Say “allow” or “reject” to lucid within {}; without an answer it is rejected.",
            within(within_secs)
        ))
}

/// The heading of an agent's own log (its stderr) on the session's page.
pub fn agent_log(agent: &str, text: &str) -> String {
    let lines = text.lines().count();
    let s = if lines == 1 { "" } else { "s" };
    format!("the agent {agent}'s own log ({lines} line{s})")
}

/// A permission request, for the session's page and log.
pub fn permission_request(number: u32, title: &str) -> String {
    format!(
        "the agent asked leave (request {number}): {}",
        super::shorten(&super::one_line(title), 300)
    )
}

/// What the status says while a permission request waits (on a platform without
/// replies, the only place the thread is asked).
pub fn waiting_for_permission(title: &str, within_secs: u64) -> Text {
    Text::new()
        .plain("Waiting for leave to: ")
        .code(super::shorten(&super::one_line(title), 200))
        .plain(format!(
            ". Say “allow” or “reject” to lucid within {}; without an answer it is rejected.",
            within(within_secs)
        ))
}

/// A person's answer to a permission request, for the session's page and log.
pub fn permission_answered(author: &str, number: Option<u32>, allow: bool) -> String {
    let verb = if allow { "allowed" } else { "rejected" };
    match number {
        Some(n) => format!("{author} {verb} request {n}"),
        None => format!("{author} {verb} the waiting request"),
    }
}

/// How a permission request ended, for the session's page and log.
pub fn permission_settled(number: u32, outcome: PermissionOutcome, by: Option<&str>) -> String {
    match (outcome, by) {
        (PermissionOutcome::Allowed, Some(by)) => format!("request {number} allowed by {by}"),
        (PermissionOutcome::Allowed, None) => format!("request {number} allowed"),
        (PermissionOutcome::Rejected, Some(by)) => format!("request {number} rejected by {by}"),
        (PermissionOutcome::Rejected, None) => format!("request {number} rejected"),
        (PermissionOutcome::TimedOut, _) => {
            format!("request {number} rejected: nobody answered in time")
        }
        (PermissionOutcome::Cancelled, _) => {
            format!("request {number} cancelled: the turn was stopped")
        }
    }
}

/// An agent's plan, as a thought in the timeline.
pub fn agent_plan(entries: &[String]) -> String {
    entries
        .iter()
        .enumerate()
        .fold("Plan:".to_owned(), |mut text, (n, entry)| {
            text.push_str(&format!("\n{}. {}", n + 1, super::one_line(entry)));
            text
        })
}

/// An external agent needs a way to its model: the sandbox has no network.
pub fn agent_without_network(agent: &str) -> String {
    format!(
        "the agent {agent} needs the sandbox on a network to reach its model: set \
         LUCID_SANDBOX_NETWORK to registries or bridge"
    )
}

/// No key is set for the agent's model provider.
pub fn agent_without_key(agent: &str, provider: &str) -> String {
    format!(
        "the agent {agent} talks to {provider}, and no key is set for it: set LUCID_{}_API_KEY",
        provider.to_ascii_uppercase()
    )
}

/// The model gateway could not be opened for the session.
pub fn gateway_unavailable(why: &str) -> String {
    format!("the model gateway could not be opened: {why}")
}

/// The agent's program could not be started or did not answer its handshake.
pub fn agent_did_not_start(agent: &str, why: &str) -> String {
    format!("the agent {agent} did not start: {why}")
}

/// The agent's process ended in the middle of its work.
pub fn agent_exited(agent: &str, code: Option<i64>, stderr_tail: &str) -> String {
    let how = code.map_or_else(|| "ended".to_owned(), |c| format!("exited with status {c}"));
    let tail = stderr_tail.trim();
    if tail.is_empty() {
        format!("the agent {agent} {how}")
    } else {
        format!("the agent {agent} {how}: {}", super::shorten(tail, 300))
    }
}

/// The agent wrote something that breaks the protocol.
pub fn agent_broke_protocol(agent: &str, what: &str) -> String {
    format!(
        "the agent {agent} broke the protocol ({})",
        super::shorten(what, 200)
    )
}

/// The agent said nothing for too long during a turn.
pub fn agent_silent(agent: &str, idle: Duration) -> String {
    format!(
        "the agent {agent} said nothing for {}, so it was stopped",
        humantime::format_duration(idle)
    )
}

/// The agent ended its turn for a reason other than being done.
pub fn agent_stopped_short(agent: &str, reason: &str) -> String {
    match reason {
        "max_tokens" => format!("the agent {agent} reached the most tokens it may use in a turn"),
        "max_turn_requests" => {
            format!("the agent {agent} made as many model requests as one turn allows")
        }
        "refusal" => format!("the agent {agent} refused to go on"),
        other => format!("the agent {agent} ended its turn: {other}"),
    }
}

/// A session asked for an agent this lucid does not have (any more).
pub fn agent_gone(agent: &str) -> String {
    format!("the agent {agent} is not configured here any more")
}

/// The summary of a turn the agent ended without a word.
pub fn agent_said_nothing(agent: &str) -> String {
    format!("The agent {agent} finished without a summary.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_said_about_external_agents() {
        let said = [
            agent_plan(&["Read the failing test".into(), "Fix\nadd".into()]),
            agent_without_network("gemini"),
            agent_without_key("gemini", "google"),
            gateway_unavailable("address in use"),
            agent_did_not_start("gemini", "no such command"),
            agent_exited("gemini", Some(3), "panic: scripted crash\n"),
            agent_exited("gemini", None, ""),
            agent_broke_protocol(
                "gemini",
                "a line is not JSON-RPC 2.0: {\"hello\":\"world\"}",
            ),
            agent_silent("gemini", Duration::from_secs(600)),
            agent_stopped_short("gemini", "max_tokens"),
            agent_stopped_short("gemini", "max_turn_requests"),
            agent_stopped_short("gemini", "refusal"),
            agent_said_nothing("gemini"),
            agent_gone("gemini"),
            permission_request(1, "rm -rf build\nand more"),
            agent_log("gemini", "one\ntwo\n"),
            agent_log("gemini", "one"),
            permission_answered("ada", Some(2), true),
            permission_answered("bob", None, false),
            permission_settled(1, PermissionOutcome::Allowed, Some("ada")),
            permission_settled(1, PermissionOutcome::Rejected, Some("bob")),
            permission_settled(1, PermissionOutcome::Rejected, None),
            permission_settled(1, PermissionOutcome::TimedOut, None),
            permission_settled(1, PermissionOutcome::Cancelled, None),
        ];
        insta::assert_snapshot!(said.join("\n"));
    }
}
