//! What is said about external agents (over the Agent Client Protocol): why a run of
//! one ended, and their plans.

use std::time::Duration;

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
        ];
        insta::assert_snapshot!(said.join("\n"));
    }
}
