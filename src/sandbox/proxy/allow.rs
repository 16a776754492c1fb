//! Which hosts the registry proxy lets a sandbox reach: names, compared after
//! normalising (lower case, no trailing dot), `*.example.org` for any name under
//! `example.org`, and IP literals only when written out exactly.

use std::net::IpAddr;

/// The package registries lucid's sandboxes may reach by default: Python, JavaScript,
/// Rust, Go, Ruby and Java, and Debian's mirrors.
pub const DEFAULT_HOSTS: &[&str] = &[
    "pypi.org",
    "files.pythonhosted.org",
    "registry.npmjs.org",
    "registry.yarnpkg.com",
    "crates.io",
    "index.crates.io",
    "static.crates.io",
    "static.rust-lang.org",
    "proxy.golang.org",
    "sum.golang.org",
    "rubygems.org",
    "index.rubygems.org",
    "repo.maven.apache.org",
    "repo1.maven.org",
    "plugins.gradle.org",
    "services.gradle.org",
    // Where the two Gradle hosts above redirect downloads to.
    "plugins-artifacts.gradle.org",
    "downloads.gradle.org",
    "deb.debian.org",
    "security.debian.org",
];

/// The word that stands for [`DEFAULT_HOSTS`] in a list of hosts.
pub const DEFAULTS_WORD: &str = "defaults";

#[derive(Clone, Debug, PartialEq, Eq)]
enum Pattern {
    Exact(String),
    /// `*.example.org`, kept as `.example.org`: any name ending so, not the bare one.
    Under(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllowList {
    patterns: Vec<Pattern>,
}

impl Default for AllowList {
    fn default() -> Self {
        Self::parse(DEFAULT_HOSTS.iter().copied()).expect("the default hosts are valid")
    }
}

impl AllowList {
    /// An allow-list from entries such as `pypi.org`, `*.example.org`, `10.0.0.7` or
    /// the word `defaults` (the built-in list).
    pub fn parse<'a>(entries: impl IntoIterator<Item = &'a str>) -> Result<Self, String> {
        let mut patterns = Vec::new();
        for entry in entries {
            if entry.trim() == DEFAULTS_WORD {
                patterns.extend(Self::default().patterns);
            } else {
                patterns.push(pattern(entry)?);
            }
        }
        Ok(Self { patterns })
    }

    /// Whether `host` (as [`normalize_host`] gives it) is on the list. A wildcard
    /// never matches an IP literal.
    pub fn allows(&self, host: &str) -> bool {
        let is_ip = host.parse::<IpAddr>().is_ok();
        self.patterns.iter().any(|p| match p {
            Pattern::Exact(name) => name == host,
            Pattern::Under(suffix) => !is_ip && host.ends_with(suffix.as_str()),
        })
    }
}

fn pattern(entry: &str) -> Result<Pattern, String> {
    let entry = entry.trim();
    if let Some(rest) = entry.strip_prefix("*.") {
        let name = normalize_host(rest).filter(|n| n.parse::<IpAddr>().is_err());
        return match name {
            Some(name) => Ok(Pattern::Under(format!(".{name}"))),
            None => Err(format!(
                "{entry:?} is not a host pattern such as *.example.org"
            )),
        };
    }
    normalize_host(entry)
        .map(Pattern::Exact)
        .ok_or_else(|| format!("{entry:?} is not a host name such as pypi.org"))
}

/// A host as the proxy compares it: lower case, without a trailing dot, an IP literal
/// in its canonical form (brackets off). None if it is not a plain host name.
pub fn normalize_host(host: &str) -> Option<String> {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Some(ip.to_string());
    }
    let name = bare.strip_suffix('.').unwrap_or(bare).to_ascii_lowercase();
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    (name.len() <= 253 && name.split('.').all(label_ok)).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(entries: &[&str]) -> AllowList {
        AllowList::parse(entries.iter().copied()).unwrap()
    }

    fn allows(list: &AllowList, host: &str) -> bool {
        list.allows(&normalize_host(host).unwrap())
    }

    #[test]
    fn exact_names_match_whatever_their_case_or_trailing_dot() {
        let l = list(&["pypi.org"]);
        assert!(allows(&l, "pypi.org"));
        assert!(allows(&l, "PyPI.Org"));
        assert!(allows(&l, "pypi.org."));
        assert!(!allows(&l, "evil-pypi.org"));
        assert!(!allows(&l, "pypi.org.evil.com"));
        assert!(!allows(&l, "sub.pypi.org"));
    }

    #[test]
    fn a_wildcard_matches_names_under_it_only() {
        let l = list(&["*.Example.org."]);
        assert!(allows(&l, "a.example.org"));
        assert!(allows(&l, "a.b.EXAMPLE.org."));
        assert!(!allows(&l, "example.org"));
        assert!(!allows(&l, "badexample.org"));
    }

    #[test]
    fn ip_literals_match_only_when_written_out() {
        let l = list(&["*.0.0.1", "10.1.2.3", "[::1]"]);
        assert!(!allows(&l, "127.0.0.1"));
        assert!(allows(&l, "10.1.2.3"));
        assert!(allows(&l, "[0:0::1]"));
        assert!(!list(&["defaults"]).allows("127.0.0.1"));
    }

    #[test]
    fn the_defaults_cover_the_registries_and_can_be_extended() {
        let defaults = AllowList::default();
        for host in [
            "pypi.org",
            "registry.npmjs.org",
            "index.crates.io",
            "deb.debian.org",
        ] {
            assert!(defaults.allows(host), "{host}");
        }
        assert!(!defaults.allows("github.com"));
        let more = list(&["defaults", "mirror.example.org"]);
        assert!(more.allows("pypi.org") && more.allows("mirror.example.org"));
        let only = list(&["mirror.example.org"]);
        assert!(!only.allows("pypi.org"));
    }

    #[test]
    fn entries_that_are_not_hosts_are_refused() {
        for bad in [
            "*",
            "*.",
            "http://pypi.org",
            "a b.org",
            "foo.*.org",
            "*.10.0.0.1",
            "",
        ] {
            assert!(AllowList::parse([bad]).is_err(), "{bad:?}");
        }
    }
}
