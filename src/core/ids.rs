//! Identifiers that validate on construction, so code past the edge never holds a
//! malformed one.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidId(String);

impl InvalidId {
    pub fn from_message(message: String) -> Self {
        Self(message)
    }
}

/// A session's id. A UUIDv7, so ids sort by creation time, which the API pages on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SessionId(Uuid);

impl SessionId {
    pub fn new() -> Self {
        Self(Uuid::now_v7())
    }
}

impl Default for SessionId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for SessionId {
    type Err = InvalidId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s)
            .map(Self)
            .map_err(|_| InvalidId(format!("{s:?} is not a session id (a UUID)")))
    }
}

/// A repository as `owner/name`, the form every forge and every user understands.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RepoName {
    owner: String,
    name: String,
}

impl RepoName {
    pub fn parse(s: &str) -> Result<Self, InvalidId> {
        let invalid = || InvalidId(format!("{s:?} is not a repository name like owner/repo"));
        let (owner, name) = s.split_once('/').ok_or_else(invalid)?;
        let valid_part = |p: &str| {
            !p.is_empty()
                && p.len() <= 100
                && p != "."
                && p != ".."
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        };
        if !valid_part(owner) || !valid_part(name) {
            return Err(invalid());
        }
        Ok(Self {
            owner: owner.to_owned(),
            name: name.to_owned(),
        })
    }

    pub fn owner(&self) -> &str {
        &self.owner
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

impl fmt::Display for RepoName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.owner, self.name)
    }
}

impl TryFrom<String> for RepoName {
    type Error = InvalidId;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<RepoName> for String {
    fn from(r: RepoName) -> Self {
        r.to_string()
    }
}

/// The id a platform gave one webhook delivery (`X-GitHub-Delivery`, Slack's
/// `event_id`, ...). Together with the platform it is the dedupe key.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DeliveryId(String);

impl DeliveryId {
    pub fn parse(s: &str) -> Result<Self, InvalidId> {
        if s.is_empty() || s.len() > 200 || s.chars().any(char::is_control) {
            return Err(InvalidId(format!("{s:?} is not a delivery id")));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for DeliveryId {
    type Error = InvalidId;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<DeliveryId> for String {
    fn from(d: DeliveryId) -> Self {
        d.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_names_parse_owner_and_name() {
        let repo = RepoName::parse("rust-lang/rust.vim").unwrap();
        assert_eq!((repo.owner(), repo.name()), ("rust-lang", "rust.vim"));
        assert_eq!(repo.to_string(), "rust-lang/rust.vim");
    }

    #[test]
    fn malformed_repo_names_are_refused() {
        for bad in [
            "", "owner", "/repo", "owner/", "a/b/c", "o w/r", "../x", "owner/..",
        ] {
            assert!(RepoName::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn session_ids_round_trip_and_sort_by_creation() {
        let first = SessionId::new();
        let second = SessionId::new();
        assert!(first < second);
        assert_eq!(first.to_string().parse::<SessionId>().unwrap(), first);
        assert!("not-a-uuid".parse::<SessionId>().is_err());
    }

    #[test]
    fn delivery_ids_refuse_empty_and_control_characters() {
        assert!(DeliveryId::parse("72d3162e-cc78-11e3-81ab-4c9367dc0958").is_ok());
        assert!(DeliveryId::parse("").is_err());
        assert!(DeliveryId::parse("a\nb").is_err());
    }
}
