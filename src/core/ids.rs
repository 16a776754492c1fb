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

/// A repository: which forge it lives on, and its path there, of any depth
/// (`owner/name` on GitHub, `group/subgroup/project` on GitLab). Written
/// `forge:path`, the forge left out when it is GitHub, the form people and settings
/// use (`acme/app`, `gitlab:acme/tools/cli`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RepoRef {
    forge: String,
    /// At least two segments.
    path: Vec<String>,
}

impl RepoRef {
    /// The forge a repository named without one lives on.
    pub const DEFAULT_FORGE: &'static str = "github";

    pub fn parse(s: &str) -> Result<Self, InvalidId> {
        let invalid = || InvalidId(format!("{s:?} is not a repository name like owner/repo"));
        let (forge, path) = match s.split_once(':') {
            Some((forge, path)) => (forge, path),
            None => (Self::DEFAULT_FORGE, s),
        };
        let valid_forge = !forge.is_empty()
            && forge.len() <= 32
            && forge
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        let segments: Vec<&str> = path.split('/').collect();
        let valid_segment = |p: &&str| {
            !p.is_empty()
                && p.len() <= 100
                && *p != "."
                && *p != ".."
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        };
        if !valid_forge
            || segments.len() < 2
            || segments.len() > 20
            || !segments.iter().all(valid_segment)
        {
            return Err(invalid());
        }
        Ok(Self {
            forge: forge.to_owned(),
            path: segments.into_iter().map(str::to_owned).collect(),
        })
    }

    /// The forge's short name (`github`).
    pub fn forge(&self) -> &str {
        &self.forge
    }

    /// Everything before the repository's own name (`acme`, `group/subgroup`).
    pub fn owner(&self) -> String {
        self.path[..self.path.len() - 1].join("/")
    }

    /// The repository's own name, the last segment.
    pub fn name(&self) -> &str {
        self.path.last().expect("a path has two segments or more")
    }

    /// The path on its forge (`acme/app`).
    pub fn path(&self) -> String {
        self.path.join("/")
    }
}

impl fmt::Display for RepoRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.forge != Self::DEFAULT_FORGE {
            write!(f, "{}:", self.forge)?;
        }
        f.write_str(&self.path())
    }
}

impl TryFrom<String> for RepoRef {
    type Error = InvalidId;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<RepoRef> for String {
    fn from(r: RepoRef) -> Self {
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
        let repo = RepoRef::parse("rust-lang/rust.vim").unwrap();
        assert_eq!(
            (repo.forge(), repo.owner().as_str(), repo.name()),
            ("github", "rust-lang", "rust.vim")
        );
        assert_eq!(repo.to_string(), "rust-lang/rust.vim");
    }

    #[test]
    fn repositories_name_their_forge_and_have_paths_of_any_depth() {
        let repo = RepoRef::parse("gitlab:acme/tools/cli").unwrap();
        assert_eq!(repo.forge(), "gitlab");
        assert_eq!((repo.owner().as_str(), repo.name()), ("acme/tools", "cli"));
        assert_eq!(repo.path(), "acme/tools/cli");
        assert_eq!(repo.to_string(), "gitlab:acme/tools/cli");
        let json = serde_json::to_string(&repo).unwrap();
        assert_eq!(serde_json::from_str::<RepoRef>(&json).unwrap(), repo);
        // GitHub is written without its name, and also with it.
        assert_eq!(
            RepoRef::parse("github:acme/app").unwrap(),
            RepoRef::parse("acme/app").unwrap()
        );
        assert_eq!(RepoRef::parse("a/b/c").unwrap().owner(), "a/b");
    }

    #[test]
    fn malformed_repo_names_are_refused() {
        for bad in [
            "",
            "owner",
            "/repo",
            "owner/",
            "a//c",
            "o w/r",
            "../x",
            "owner/..",
            ":a/b",
            "Git Lab:a/b",
            "gitlab:",
            "gitlab:a",
        ] {
            assert!(RepoRef::parse(bad).is_err(), "{bad:?} was accepted");
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
