//! Finding `@<bot>` in a comment, and what it asks for.
//!
//! A mention is `@login`, case-insensitive, as a whole word: not `@lucidity`, not the
//! `@lucid` of `a@lucid.dev` or `@lucid.dev`, not a team `@lucid/core`. Mentions in
//! code (a fenced block or an inline span) and in quoted lines (`> ...`, as GitHub's
//! "Quote reply" makes them) are not addressed to the bot and are skipped; they stay
//! in the task's text.

use std::ops::Range;

/// What a comment that mentions the bot asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mention {
    /// Work: the whole comment with the mentions taken out, trimmed. It may be empty
    /// (a bare `@lucid`); the caller decides what that means.
    Task(String),
    /// `@lucid stop`, followed by nothing but punctuation or whitespace.
    Stop,
}

/// Finds `@bot_login` in `text`. `bot_login` may be given as `lucid`, `@lucid` or
/// `lucid[bot]` (a GitHub App's login); `@lucid[bot]` in the text is a mention too.
/// `None` when the text does not mention the bot.
pub fn mention(text: &str, bot_login: &str) -> Option<Mention> {
    let login = normalize(bot_login);
    if login.is_empty() {
        return None;
    }
    let found = find(text, login);
    if found.is_empty() {
        return None;
    }
    if found.iter().any(|m| says_stop(&text[m.end..])) {
        return Some(Mention::Stop);
    }
    Some(Mention::Task(remove(text, &found)))
}

fn normalize(login: &str) -> &str {
    let login = login.trim();
    let login = login.strip_prefix('@').unwrap_or(login);
    strip_suffix_ignore_case(login, "[bot]").unwrap_or(login)
}

fn strip_suffix_ignore_case<'a>(s: &'a str, suffix: &str) -> Option<&'a str> {
    let cut = s.len().checked_sub(suffix.len())?;
    let tail = s.get(cut..)?;
    tail.eq_ignore_ascii_case(suffix).then(|| &s[..cut])
}

/// Whether what follows a mention is just "stop": `stop`, `, stop!`, ` STOP.`.
fn says_stop(rest: &str) -> bool {
    let rest = rest.trim_start_matches(|c: char| !c.is_alphanumeric());
    rest.get(..4)
        .is_some_and(|word| word.eq_ignore_ascii_case("stop"))
        && rest[4..].chars().all(|c| !c.is_alphanumeric())
}

/// The byte ranges of the mentions of `login` in `text`, outside code and quotes.
fn find(text: &str, login: &str) -> Vec<Range<usize>> {
    let mut found = Vec::new();
    let mut open_fence: Option<Fence> = None;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let start = offset;
        offset += line.len();
        let line = line.trim_end_matches(['\n', '\r']);
        match (fence(line), open_fence) {
            (Some(f), None) => {
                open_fence = Some(f);
                continue;
            }
            (Some(f), Some(open)) if f.closes(open) => {
                open_fence = None;
                continue;
            }
            _ => {}
        }
        if open_fence.is_some() || line.trim_start().starts_with('>') {
            continue;
        }
        find_in_line(line, start, login, &mut found);
    }
    found
}

#[derive(Clone, Copy)]
struct Fence {
    mark: u8,
    len: usize,
    /// Nothing but whitespace after the marks: only such a line closes a block.
    bare: bool,
}

impl Fence {
    fn closes(self, open: Fence) -> bool {
        self.bare && self.mark == open.mark && self.len >= open.len
    }
}

/// A code fence line: up to three spaces, then three or more backticks or tildes.
fn fence(line: &str) -> Option<Fence> {
    let indent = line.len() - line.trim_start_matches(' ').len();
    if indent > 3 {
        return None;
    }
    let line = &line[indent..];
    let mark = *line
        .as_bytes()
        .first()
        .filter(|m| matches!(m, b'`' | b'~'))?;
    let len = line.bytes().take_while(|&b| b == mark).count();
    let info = &line[len..];
    if len < 3 || (mark == b'`' && info.contains('`')) {
        return None;
    }
    Some(Fence {
        mark,
        len,
        bare: info.trim().is_empty(),
    })
}

/// Inline code spans of a line: a run of backticks up to the next run of the same
/// length. A run with no partner is plain text.
fn code_spans(line: &str) -> Vec<Range<usize>> {
    let bytes = line.as_bytes();
    let run_at = |i: usize| bytes[i..].iter().take_while(|&&b| b == b'`').count();
    let mut spans = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'`' {
            i += 1;
            continue;
        }
        let len = run_at(i);
        let mut j = i + len;
        let mut close = None;
        while j < bytes.len() {
            if bytes[j] == b'`' {
                let run = run_at(j);
                if run == len {
                    close = Some(j + run);
                    break;
                }
                j += run;
            } else {
                j += 1;
            }
        }
        match close {
            Some(end) => {
                spans.push(i..end);
                i = end;
            }
            None => i += len,
        }
    }
    spans
}

fn find_in_line(line: &str, base: usize, login: &str, found: &mut Vec<Range<usize>>) {
    let code = code_spans(line);
    for (at, _) in line.match_indices('@') {
        // Inside the mention just found (a login with an `@` in it): not another.
        if code.iter().any(|span| span.contains(&at))
            || found.last().is_some_and(|m| base + at < m.end)
        {
            continue;
        }
        let glued_before = line[..at]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '@' | '/' | '`'));
        if glued_before {
            continue;
        }
        let mut end = at + 1 + login.len();
        let named = line
            .as_bytes()
            .get(at + 1..end)
            .is_some_and(|name| name.eq_ignore_ascii_case(login.as_bytes()));
        if !named {
            continue;
        }
        // The login is ASCII, so `end` is on a character boundary.
        if line
            .get(end..end + 5)
            .is_some_and(|s| s.eq_ignore_ascii_case("[bot]"))
        {
            end += 5;
        }
        let mut after = line[end..].chars();
        let glued_after = match after.next() {
            Some(c) if c.is_alphanumeric() || matches!(c, '-' | '_' | '/') => true,
            // `@lucid.dev` is a domain; `@lucid.` ends a sentence.
            Some('.') => after.next().is_some_and(char::is_alphanumeric),
            _ => false,
        };
        if !glued_after {
            found.push(base + at..base + end);
        }
    }
}

/// `text` without the mentions, each taken out with one punctuation mark right after
/// it (`@lucid:`, `@lucid,`) and the spaces that follow, so the words around close up.
fn remove(text: &str, mentions: &[Range<usize>]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for m in mentions {
        out.push_str(&text[last..m.start]);
        let mut end = m.end;
        if text[end..].starts_with([':', ',', '.', '!', '?', ';']) {
            end += 1;
        }
        let after = text[end..].trim_start_matches([' ', '\t']);
        end = text.len() - after.len();
        if after.is_empty() || after.starts_with(['\n', '\r']) {
            out.truncate(out.trim_end_matches([' ', '\t']).len());
        }
        last = end;
    }
    out.push_str(&text[last..]);
    out.trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(text: &str) -> Option<Mention> {
        Some(Mention::Task(text.to_owned()))
    }

    fn check(cases: &[(&str, Option<Mention>)]) {
        for (text, expected) in cases {
            assert_eq!(&mention(text, "lucid"), expected, "for {text:?}");
        }
    }

    #[test]
    fn the_comment_without_the_mention_is_the_task() {
        check(&[
            ("@lucid fix the failing test", task("fix the failing test")),
            (
                "@lucid: please fix this\n\nDetails:\n- it panics",
                task("please fix this\n\nDetails:\n- it panics"),
            ),
            (
                "Hey @lucid, can you fix this?",
                task("Hey can you fix this?"),
            ),
            (
                "could you ask @lucid to look",
                task("could you ask to look"),
            ),
            ("Fix the build please @lucid.", task("Fix the build please")),
            (
                "ping @lucid\nthe docs are stale",
                task("ping\nthe docs are stale"),
            ),
            (
                "@lucid fix this, then @lucid add a test",
                task("fix this, then add a test"),
            ),
            ("@lucid fix it\r\nthanks", task("fix it\r\nthanks")),
            ("café @lucid résumé", task("café résumé")),
        ]);
    }

    #[test]
    fn mentions_match_any_case() {
        check(&[
            ("@LUCID fix it", task("fix it")),
            ("@Lucid fix it", task("fix it")),
        ]);
        assert_eq!(mention("@lucid fix it", "Lucid"), task("fix it"));
    }

    #[test]
    fn the_bot_login_may_be_an_apps() {
        assert_eq!(mention("@lucid fix it", "lucid[bot]"), task("fix it"));
        assert_eq!(mention("@lucid fix it", "@lucid"), task("fix it"));
        assert_eq!(mention("@lucid[bot] fix it", "lucid"), task("fix it"));
        assert_eq!(mention("@lucid fix it", ""), None);
        assert_eq!(mention("@ fix it", "[bot]"), None);
    }

    #[test]
    fn only_whole_words_are_mentions() {
        check(&[
            ("@lucidity is a word", None),
            ("write to a@lucid.dev", None),
            ("see @lucid.dev for details", None),
            ("ask @lucid/core", None),
            ("@lucid-bot fix it", None),
            ("@lucid_2 fix it", None),
            ("@@lucid fix it", None),
            ("é@lucid fix it", None),
            ("https://example.com/@lucid", None),
            ("no mention at all", None),
            ("@luci fix it", None),
            ("(@lucid) fix it", task("() fix it")),
            ("@lucid's turn", task("'s turn")),
        ]);
    }

    #[test]
    fn mentions_in_code_are_not_mentions() {
        check(&[
            ("run `@lucid fix` to ask it", None),
            ("``@lucid ` fix``", None),
            ("```\n@lucid fix it\n```", None),
            ("~~~sh\n@lucid fix it\n~~~\n", None),
            ("   ```rust\n@lucid\n```", None),
            ("```\n@lucid fix it", None),
            ("````\n```\n@lucid\n````", None),
            (
                "```\n@lucid\n```\n@lucid run `@lucid` tests",
                task("```\n@lucid\n```\nrun `@lucid` tests"),
            ),
            (
                "an unclosed `tick @lucid fix",
                task("an unclosed `tick fix"),
            ),
            (
                "    ```\n@lucid indented too far",
                task("```\nindented too far"),
            ),
        ]);
    }

    #[test]
    fn mentions_in_quotes_are_not_mentions() {
        check(&[
            ("> @lucid fix it\n\nI agree", None),
            (
                "> @lucid fix it\n\n@lucid do it differently",
                task("> @lucid fix it\n\ndo it differently"),
            ),
        ]);
    }

    #[test]
    fn stop_is_a_mention_followed_by_stop_alone() {
        check(&[
            ("@lucid stop", Some(Mention::Stop)),
            ("@lucid stop.", Some(Mention::Stop)),
            ("@lucid  STOP", Some(Mention::Stop)),
            ("@lucid, stop!", Some(Mention::Stop)),
            ("@Lucid Stop 🙏\n", Some(Mention::Stop)),
            ("Thanks, but @lucid stop.", Some(Mention::Stop)),
            ("@lucid stop the flaky test", task("stop the flaky test")),
            ("@lucid stopwatch is broken", task("stopwatch is broken")),
            ("@lucid don't stop", task("don't stop")),
            ("`@lucid stop`", None),
        ]);
    }

    /// Found by the `github_mention` fuzz target: with an `@` inside the configured
    /// login, two mentions overlapped and taking them out sliced backwards (a panic).
    #[test]
    fn mentions_never_overlap_whatever_the_login() {
        assert_eq!(
            mention("\0@\0@\0@\0\0\0@", "\0@\0"),
            Some(Mention::Task("\0@\0\0\0@".into()))
        );
        assert_eq!(
            mention("@a@a@a fix", "a@a"),
            Some(Mention::Task("@a fix".into()))
        );
    }

    #[test]
    fn a_bare_mention_is_an_empty_task() {
        check(&[
            ("@lucid", task("")),
            ("  @lucid  \n", task("")),
            ("@lucid!", task("")),
        ]);
    }
}
