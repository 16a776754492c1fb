//! What starts a session: a mention on some platform, parsed at the edge into these
//! platform-neutral types.

use super::ids::{DeliveryId, InvalidId, RepoRef};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Where a trigger came from, and so where lucid answers: a platform's short name
/// (`github`, `slack`, ...). Open, so that a platform is added by its own folder; the
/// built-in ones have constants here because their threads have shapes here.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Platform(std::borrow::Cow<'static, str>);

impl Platform {
    pub const GITHUB: Platform = Platform::known("github");
    pub const SLACK: Platform = Platform::known("slack");
    pub const DISCORD: Platform = Platform::known("discord");
    pub const NOTION: Platform = Platform::known("notion");
    pub const WEB: Platform = Platform::known("web");

    /// A platform by a name known when compiling (a platform's folder names itself).
    pub const fn known(name: &'static str) -> Platform {
        Platform(std::borrow::Cow::Borrowed(name))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A name of lowercase letters, digits and `-`, at most 32 long (no `_` or `%`,
    /// so that a name never matches another in a SQL `LIKE`).
    pub fn parse(s: &str) -> Result<Self, InvalidId> {
        let valid = !s.is_empty()
            && s.len() <= 32
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if valid {
            Ok(Platform(std::borrow::Cow::Owned(s.to_owned())))
        } else {
            Err(InvalidId::from_message(format!("{s:?} is not a platform")))
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl TryFrom<String> for Platform {
    type Error = InvalidId;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<Platform> for String {
    fn from(p: Platform) -> Self {
        p.0.into_owned()
    }
}

/// Where to answer: the conversation a session belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ThreadRef {
    Github {
        repo: RepoRef,
        issue: u64,
    },
    Slack {
        team: String,
        channel: String,
        thread_ts: String,
    },
    /// A Discord thread (`thread`, whose id is its starter message's) off a text
    /// channel; `None` before the thread is there.
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
    /// A platform whose thread has no shape here: `place` is its own key for the
    /// conversation, which only its folder reads.
    Other {
        platform: Platform,
        place: String,
    },
}

/// The serialized form of the known threads: tagged by their platform.
#[derive(Serialize, Deserialize)]
#[serde(tag = "platform", rename_all = "snake_case")]
enum Known {
    Github {
        repo: RepoRef,
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
    Web {
        id: String,
    },
}

#[derive(Serialize, Deserialize)]
struct OtherThread {
    platform: Platform,
    place: String,
}

impl Serialize for ThreadRef {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let known = match self.clone() {
            ThreadRef::Github { repo, issue } => Known::Github { repo, issue },
            ThreadRef::Slack {
                team,
                channel,
                thread_ts,
            } => Known::Slack {
                team,
                channel,
                thread_ts,
            },
            ThreadRef::Discord { channel, thread } => Known::Discord { channel, thread },
            ThreadRef::Notion { page } => Known::Notion { page },
            ThreadRef::Web { id } => Known::Web { id },
            ThreadRef::Other { platform, place } => {
                return OtherThread { platform, place }.serialize(serializer);
            }
        };
        known.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for ThreadRef {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let value = serde_json::Value::deserialize(deserializer)?;
        let platform = value
            .get("platform")
            .and_then(serde_json::Value::as_str)
            .ok_or_else(|| D::Error::missing_field("platform"))?;
        let known = ["github", "slack", "discord", "notion", "web"];
        if !known.contains(&platform) {
            let other = OtherThread::deserialize(value).map_err(D::Error::custom)?;
            return Ok(ThreadRef::Other {
                platform: other.platform,
                place: other.place,
            });
        }
        Ok(match Known::deserialize(value).map_err(D::Error::custom)? {
            Known::Github { repo, issue } => ThreadRef::Github { repo, issue },
            Known::Slack {
                team,
                channel,
                thread_ts,
            } => ThreadRef::Slack {
                team,
                channel,
                thread_ts,
            },
            Known::Discord { channel, thread } => ThreadRef::Discord { channel, thread },
            Known::Notion { page } => ThreadRef::Notion { page },
            Known::Web { id } => ThreadRef::Web { id },
        })
    }
}

impl ThreadRef {
    pub fn platform(&self) -> Platform {
        match self {
            ThreadRef::Github { .. } => Platform::GITHUB,
            ThreadRef::Slack { .. } => Platform::SLACK,
            ThreadRef::Discord { .. } => Platform::DISCORD,
            ThreadRef::Notion { .. } => Platform::NOTION,
            ThreadRef::Web { .. } => Platform::WEB,
            ThreadRef::Other { platform, .. } => platform.clone(),
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
            // A thread's id is unique across Discord: messages in a thread name it as
            // their channel, without its parent.
            ThreadRef::Discord { channel, thread } => match thread {
                Some(thread) => thread.clone(),
                None => channel.clone(),
            },
            ThreadRef::Notion { page } => page.clone(),
            ThreadRef::Web { id } => id.clone(),
            ThreadRef::Other { place, .. } => place.clone(),
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
    /// A title the platform gave the work (an issue's), for the change request.
    #[serde(default)]
    pub title: Option<String>,
    pub repo: Option<RepoRef>,
    pub delivery: DeliveryId,
    /// The agent the session runs with, by its configured id (`built-in`, `gemini`):
    /// the one the person asked for, else the deployment's default when the request
    /// came in. None: the deployment's default (a session older than the choice).
    #[serde(default)]
    pub agent: Option<String>,
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
        for p in [Platform::GITHUB, Platform::SLACK, Platform::WEB] {
            assert_eq!(Platform::parse(p.as_str()).unwrap(), p);
        }
        assert_eq!(Platform::parse("toy").unwrap().as_str(), "toy");
        for bad in ["", "My Space", "a/b", "a_b", "a%", &"x".repeat(33)] {
            assert!(Platform::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn a_thread_of_another_platform_keeps_its_platform_and_place() {
        let thread = ThreadRef::Other {
            platform: Platform::parse("toy").unwrap(),
            place: "room-1/msg-9".into(),
        };
        let json = serde_json::to_value(&thread).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"platform": "toy", "place": "room-1/msg-9"})
        );
        assert_eq!(serde_json::from_value::<ThreadRef>(json).unwrap(), thread);
        assert_eq!(thread.key(), "room-1/msg-9");
        assert_eq!(thread.platform().as_str(), "toy");
    }

    #[test]
    fn thread_keys_identify_the_conversation() {
        let issue = ThreadRef::Github {
            repo: RepoRef::parse("acme/app").unwrap(),
            issue: 7,
        };
        assert_eq!(issue.key(), "acme/app#7");
        assert_eq!(issue.platform(), Platform::GITHUB);
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
