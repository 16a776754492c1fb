//! What starts a session: a mention on some platform, parsed at the edge into these
//! platform-neutral types.

use super::ids::{DeliveryId, InvalidId, RepoName};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Where a trigger came from, and so where lucid answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Platform {
    Github,
    Slack,
    Discord,
    Notion,
    Web,
}

impl Platform {
    pub const ALL: [Platform; 5] = [
        Platform::Github,
        Platform::Slack,
        Platform::Discord,
        Platform::Notion,
        Platform::Web,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Github => "github",
            Platform::Slack => "slack",
            Platform::Discord => "discord",
            Platform::Notion => "notion",
            Platform::Web => "web",
        }
    }

    pub fn parse(s: &str) -> Result<Self, InvalidId> {
        Self::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| InvalidId::from_message(format!("{s:?} is not a platform")))
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where to answer: the conversation a session belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "platform", rename_all = "snake_case")]
pub enum ThreadRef {
    Github {
        repo: RepoName,
        issue: u64,
    },
    Slack {
        team: String,
        channel: String,
        thread_ts: String,
    },
    Discord {
        channel: String,
        thread: Option<String>,
    },
    Notion {
        page: String,
    },
    /// A session started by hand in lucid's own UI: its thread is the session itself.
    Web {
        id: String,
    },
}

impl ThreadRef {
    pub fn platform(&self) -> Platform {
        match self {
            ThreadRef::Github { .. } => Platform::Github,
            ThreadRef::Slack { .. } => Platform::Slack,
            ThreadRef::Discord { .. } => Platform::Discord,
            ThreadRef::Notion { .. } => Platform::Notion,
            ThreadRef::Web { .. } => Platform::Web,
        }
    }

    /// A stable key, unique within the platform, that maps a conversation to its
    /// session so that follow-ups find it.
    pub fn key(&self) -> String {
        match self {
            ThreadRef::Github { repo, issue } => format!("{repo}#{issue}"),
            ThreadRef::Slack {
                team,
                channel,
                thread_ts,
            } => format!("{team}/{channel}/{thread_ts}"),
            ThreadRef::Discord { channel, thread } => match thread {
                Some(thread) => format!("{channel}/{thread}"),
                None => channel.clone(),
            },
            ThreadRef::Notion { page } => page.clone(),
            ThreadRef::Web { id } => id.clone(),
        }
    }
}

/// Who asked, as the platform knows them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Author {
    /// The platform's stable id (GitHub login, Slack user id, ...).
    pub id: String,
    /// What to call them in a reply.
    pub display_name: String,
}

/// A request for work. `task` came from a person on a platform: it is untrusted and is
/// never interpreted as instructions to lucid itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trigger {
    pub thread: ThreadRef,
    pub author: Author,
    pub task: String,
    pub repo: Option<RepoName>,
    pub delivery: DeliveryId,
}

impl Trigger {
    pub fn platform(&self) -> Platform {
        self.thread.platform()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms_round_trip_through_their_names() {
        for p in Platform::ALL {
            assert_eq!(Platform::parse(p.as_str()).unwrap(), p);
        }
        assert!(Platform::parse("myspace").is_err());
    }

    #[test]
    fn thread_keys_identify_the_conversation() {
        let issue = ThreadRef::Github {
            repo: RepoName::parse("acme/app").unwrap(),
            issue: 7,
        };
        assert_eq!(issue.key(), "acme/app#7");
        assert_eq!(issue.platform(), Platform::Github);
        let slack = ThreadRef::Slack {
            team: "T1".into(),
            channel: "C1".into(),
            thread_ts: "1700000000.000100".into(),
        };
        assert_eq!(slack.key(), "T1/C1/1700000000.000100");
    }

    #[test]
    fn thread_refs_serialize_with_their_platform() {
        let thread = ThreadRef::Notion { page: "abc".into() };
        let json = serde_json::to_value(&thread).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"platform": "notion", "page": "abc"})
        );
        assert_eq!(serde_json::from_value::<ThreadRef>(json).unwrap(), thread);
    }
}
