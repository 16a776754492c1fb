//! Finding the GitHub repository a person's words name: a `github.com` link, or an
//! `owner/repo` word that is not something else (a path, a date, a pair of words).

use crate::core::RepoRef;

/// Finds the GitHub repository a text names: a `https://github.com/owner/repo[/…]`
/// URL, else an `owner/repo` word. A URL wins wherever it is; among words the first
/// wins. A word must have GitHub's shape (an owner of letters, digits and inner single
/// hyphens, up to 39; a name of letters, digits, `-`, `_`, `.`, up to 100), and is not
/// taken when it is likely something else: a path (`src/lib/x.rs`, `./x`, `src/main.rs`,
/// `docs/README.md`), a fraction or a date (`1/2`, `24/7`), or a pair of words
/// (`and/or`, `yes/no`, `CI/CD`).
pub fn find_repo(text: &str) -> Option<RepoRef> {
    find_url(text).or_else(|| find_word(text))
}

/// Paths on github.com that are not an owner.
const NOT_OWNERS: &[&str] = &[
    "about",
    "apps",
    "collections",
    "contact",
    "enterprise",
    "events",
    "explore",
    "features",
    "issues",
    "login",
    "marketplace",
    "new",
    "notifications",
    "orgs",
    "organizations",
    "pricing",
    "pulls",
    "search",
    "security",
    "settings",
    "sponsors",
    "topics",
    "trending",
    "users",
];

fn find_url(text: &str) -> Option<RepoRef> {
    let lower = text.to_ascii_lowercase();
    lower.match_indices("github.com/").find_map(|(at, host)| {
        let before = &lower[..at];
        let at_boundary = before.is_empty()
            || before.ends_with("//")
            || before.ends_with("www.")
            || before.ends_with(|c: char| c.is_whitespace() || matches!(c, '<' | '(' | '|'));
        if !at_boundary {
            return None;
        }
        // Byte offsets in `lower` are offsets in `text`: only ASCII changed case.
        let path = &text[at + host.len()..];
        let owner_len = path
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
            .unwrap_or(path.len());
        let (owner, rest) = path.split_at(owner_len);
        let rest = rest.strip_prefix('/')?;
        let name_len = rest.find(|c: char| !is_name_char(c)).unwrap_or(rest.len());
        let name = rest[..name_len].trim_end_matches('.');
        let name = name.strip_suffix(".git").unwrap_or(name);
        let not_owner = NOT_OWNERS.iter().any(|n| n.eq_ignore_ascii_case(owner));
        if not_owner || !is_owner(owner) || !is_name(name) {
            return None;
        }
        RepoRef::parse(&format!("{owner}/{name}")).ok()
    })
}

/// Common first folders of a path, which `owner/repo` words are not taken to be.
const PATH_FOLDERS: &[&str] = &[
    "app",
    "apps",
    "assets",
    "benches",
    "bin",
    "build",
    "cmd",
    "config",
    "crates",
    "dist",
    "doc",
    "docs",
    "etc",
    "examples",
    "home",
    "include",
    "internal",
    "lib",
    "opt",
    "packages",
    "pkg",
    "public",
    "scripts",
    "spec",
    "src",
    "static",
    "target",
    "templates",
    "test",
    "tests",
    "tmp",
    "usr",
    "var",
    "vendor",
];

/// Extensions of source files and documents, which a repository's name rarely has.
const FILE_EXTENSIONS: &[&str] = &[
    "c", "cc", "cpp", "css", "go", "h", "hpp", "html", "java", "json", "jsx", "kt", "lock", "md",
    "py", "rb", "rs", "sh", "toml", "ts", "tsx", "txt", "yaml", "yml",
];

/// Pairs of words written with a slash.
const WORD_PAIRS: &[&str] = &[
    "a/b",
    "and/or",
    "before/after",
    "ci/cd",
    "client/server",
    "dev/prod",
    "either/or",
    "he/him",
    "he/she",
    "him/her",
    "his/her",
    "i/o",
    "input/output",
    "n/a",
    "on/off",
    "open/close",
    "pros/cons",
    "read/write",
    "s/he",
    "she/her",
    "start/stop",
    "tcp/ip",
    "they/them",
    "true/false",
    "ui/ux",
    "w/o",
    "yes/no",
];

fn find_word(text: &str) -> Option<RepoRef> {
    text.split(|c: char| {
        c.is_whitespace() || matches!(c, '<' | '>' | '|' | '(' | ')' | '[' | ']' | '{' | '}')
    })
    .find_map(repo_word)
}

fn repo_word(word: &str) -> Option<RepoRef> {
    // Quotes, code ticks and Slack's bold / italic / strike marks around a word, and a
    // sentence's punctuation after it.
    let word = word.trim_start_matches(['"', '\'', '`', '*', '_', '~']);
    let word = word.trim_end_matches(['"', '\'', '`', '*', '_', '~', '.', ',', ';', ':', '!', '?']);
    // `owner/repo#12` names an issue of the repository.
    let word = match word.split_once('#') {
        Some((repo, issue)) if issue.chars().all(|c| c.is_ascii_digit()) => repo,
        Some(_) => return None,
        None => word,
    };
    let (owner, name) = word.split_once('/')?;
    if !is_owner(owner) || !is_name(name) || name.contains('/') {
        return None;
    }
    let name = name.strip_suffix(".git").unwrap_or(name);
    let is_path = PATH_FOLDERS.iter().any(|f| f.eq_ignore_ascii_case(owner))
        || name
            .rsplit_once('.')
            .is_some_and(|(_, ext)| FILE_EXTENSIONS.iter().any(|e| e.eq_ignore_ascii_case(ext)));
    let is_number = owner.chars().all(|c| c.is_ascii_digit());
    let is_pair = WORD_PAIRS.iter().any(|p| p.eq_ignore_ascii_case(word));
    if is_path || is_number || is_pair {
        return None;
    }
    RepoRef::parse(&format!("{owner}/{name}")).ok()
}

/// A GitHub login: letters, digits and single inner hyphens, at most 39.
fn is_owner(owner: &str) -> bool {
    !owner.is_empty()
        && owner.len() <= 39
        && owner.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !owner.starts_with('-')
        && !owner.ends_with('-')
        && !owner.contains("--")
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')
}

/// A GitHub repository name: letters, digits, `-`, `_`, `.`, at most 100, not `.`,
/// `..` nor `.git`.
fn is_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 100
        && name.chars().all(is_name_char)
        && !matches!(name, "." | ".." | ".git")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo(text: &str) -> Option<String> {
        find_repo(text).map(|r| r.to_string())
    }

    #[test]
    fn repositories_are_found_in_words() {
        for (text, expected) in [
            ("fix the tests in acme/widgets", Some("acme/widgets")),
            ("acme/widgets: the build is red", Some("acme/widgets")),
            (
                "in `rust-lang/rust.vim`, please",
                Some("rust-lang/rust.vim"),
            ),
            ("*acme/widgets*", Some("acme/widgets")),
            ("(acme/widgets)", Some("acme/widgets")),
            ("see acme/widgets#12", Some("acme/widgets")),
            ("clone acme/widgets.git", Some("acme/widgets")),
            ("a repo named acme/2048", Some("acme/2048")),
            ("mrdoob/three.js renders", Some("mrdoob/three.js")),
            ("first acme/one then acme/two", Some("acme/one")),
            ("A_B/c", None),
            ("-acme/widgets", None),
            ("ac--me/widgets", None),
            ("this and/or that", None),
            ("Yes/No", None),
            ("CI/CD is slow", None),
            ("1/2 of the tests", None),
            ("open 24/7", None),
            ("src/lib/x.rs is broken", None),
            ("src/main.rs is broken", None),
            ("lib/parse fails", None),
            ("see docs/README.md", None),
            ("./acme/widgets", None),
            ("/acme/widgets", None),
            ("~/acme", None),
            ("acme/widgets/tree/main", None),
            ("https://gitlab.com/acme/widgets", None),
            ("example.com/widgets", None),
            ("acme/widgets#main", None),
            ("owner/", None),
            ("no repository here", None),
        ] {
            assert_eq!(repo(text), expected.map(str::to_owned), "for {text:?}");
        }
    }

    #[test]
    fn repositories_are_found_in_github_urls() {
        for (text, expected) in [
            ("https://github.com/acme/widgets", Some("acme/widgets")),
            (
                "https://github.com/acme/widgets/pull/12/files",
                Some("acme/widgets"),
            ),
            ("https://github.com/acme/widgets.git", Some("acme/widgets")),
            ("see https://github.com/acme/widgets.", Some("acme/widgets")),
            (
                "http://www.github.com/acme/widgets?tab=readme",
                Some("acme/widgets"),
            ),
            ("HTTPS://GitHub.com/Acme/Widgets", Some("Acme/Widgets")),
            ("github.com/acme/widgets#readme", Some("acme/widgets")),
            (
                "<https://github.com/acme/widgets|widgets>",
                Some("acme/widgets"),
            ),
            ("https://github.com/acme/src", Some("acme/src")),
            ("https://github.com/acme", None),
            ("https://github.com/orgs/acme/people", None),
            ("https://github.com/settings/tokens", None),
            ("https://gist.github.com/acme/0123abcd", None),
            ("https://notgithub.com/acme/widgets", None),
        ] {
            assert_eq!(repo(text), expected.map(str::to_owned), "for {text:?}");
        }
    }

    #[test]
    fn a_github_url_wins_over_a_word() {
        assert_eq!(
            repo("port acme/old to https://github.com/acme/new").as_deref(),
            Some("acme/new")
        );
        // A URL that names no repository does not hide a word that does.
        assert_eq!(
            repo("see https://github.com/settings for acme/widgets").as_deref(),
            Some("acme/widgets")
        );
    }
}
