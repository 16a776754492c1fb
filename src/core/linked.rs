//! Forge accounts people link to their name on a chat platform ("@lucid login"), so
//! that a request from Slack, Discord or Notion can be checked against the forge as
//! the person themselves, and their work credited to them there.

use super::trigger::ThreadRef;
use serde::{Deserialize, Serialize};

/// A person's account on a forge, as the forge names it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForgeUser {
    /// The forge's short name (`github`).
    pub forge: String,
    pub login: String,
    /// The forge's number for the account, which outlives a change of login.
    pub id: u64,
}

/// The name a person's linked account is kept under among the store's credentials:
/// one per person per platform, and per Slack workspace (whose user ids are its own;
/// Discord's and Notion's are the same everywhere). `person` is the platform's id.
pub fn link_name(thread: &ThreadRef, person: &str) -> String {
    let workspace = match thread {
        ThreadRef::Slack { team, .. } => team.as_str(),
        _ => "-",
    };
    format!("link:{}:{workspace}:{person}", thread.platform())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_is_named_by_platform_workspace_and_person() {
        let slack = ThreadRef::Slack {
            team: "T1".into(),
            channel: "C1".into(),
            thread_ts: "1.1".into(),
        };
        assert_eq!(link_name(&slack, "U1"), "link:slack:T1:U1");
        let discord = ThreadRef::Discord {
            channel: "10".into(),
            thread: Some("11".into()),
        };
        assert_eq!(link_name(&discord, "30"), "link:discord:-:30");
        // Where a person asks in a workspace does not change who they are.
        let elsewhere = ThreadRef::Slack {
            team: "T1".into(),
            channel: "C2".into(),
            thread_ts: "2.2".into(),
        };
        assert_eq!(link_name(&elsewhere, "U1"), link_name(&slack, "U1"));
    }
}
