//! GitHub-flavoured Markdown: how lucid's messages read in an issue or a pull request.
//! Text from people and from the log is made safe here: HTML cannot swallow the rest
//! of a comment, a quoted mention pings no one, and a link cannot break out of its
//! parentheses.

use crate::messages::{Markup, Span, emoji_char, shorten};
use std::collections::HashMap;
use std::fmt::Write as _;

/// Characters a link target keeps; a longer one is cut.
const URL_CHARS: usize = 2_000;

pub struct GithubMarkup;

impl Markup for GithubMarkup {
    fn span(&self, span: &Span) -> String {
        match span {
            Span::Plain(text) => prose(text),
            Span::Strong(text) => format!("**{}**", prose(text)),
            Span::Mention(who) => format!("@{}", who.id),
            Span::Code(text) => code(text),
            Span::Block(lines) => {
                let fence = "`".repeat(longest_backtick_run(lines).max(2) + 1);
                format!("\n{fence}\n{lines}\n{fence}")
            }
            Span::Link { label, url } => format!("[{}]({})", prose(label), link_target(url)),
            Span::Emoji(name) => emoji_char(name).to_owned(),
        }
    }
}

fn longest_backtick_run(s: &str) -> usize {
    s.split(|c| c != '`')
        .map(str::len)
        .max()
        .unwrap_or_default()
}

/// Inline code that holds any text: on one line (a blank line would end the span and
/// let what follows be read as Markdown), the fence longer than any run of backticks
/// in it, and padded with spaces when the text has backticks so that they stay literal.
pub fn code(s: &str) -> String {
    let one_line = s.replace(['\r', '\n'], " ");
    let s = one_line.as_str();
    if s.is_empty() {
        return "(empty)".to_owned();
    }
    let longest_run = longest_backtick_run(s);
    if longest_run == 0 {
        return format!("`{s}`");
    }
    let fence = "`".repeat(longest_run + 1);
    format!("{fence} {s} {fence}")
}

/// Text from the log or a person, made safe to show as Markdown. Its code spans and
/// emphasis still read as such, but outside code spans: raw HTML is shown as text (so
/// a comment, `<details>` or `<img>` cannot hide or swallow anything), brackets are
/// taken literally (no link, image or link definition can say one thing and point
/// elsewhere), `$` opens no math, and a zero-width space after each `@` keeps a
/// mention from notifying anyone.
pub fn prose(s: &str) -> String {
    let runs = BacktickRuns::of(s);
    let mut out = String::with_capacity(s.len());
    let mut at = 0;
    for &(start, len) in &runs.all {
        // Inside a code span already written out.
        if start < at {
            continue;
        }
        out.push_str(&escape_html(&s[at..start]));
        let after = start + len;
        // A code span ends with its paragraph: it cannot reach past a blank line.
        match runs.closing(after, len, runs.paragraph_end(start)) {
            Some(close) => {
                out.push_str(&s[start..close + len]);
                at = close + len;
            }
            None => {
                // An unmatched run of backticks is literal text.
                out.push_str(&s[start..after]);
                at = after;
            }
        }
    }
    out.push_str(&escape_html(&s[at..]));
    out
}

/// Where a text's runs of backticks and its blank lines are, found in one pass so that
/// pairing the runs takes time in proportion to the text (agent output can hold
/// thousands of unmatched backticks).
struct BacktickRuns {
    /// Each maximal run of backticks: where it starts and how long it is.
    all: Vec<(usize, usize)>,
    /// Where the runs of each length start, in order.
    by_len: HashMap<usize, Vec<usize>>,
    /// Where each blank line (only whitespace) starts, in order.
    blank_lines: Vec<usize>,
}

impl BacktickRuns {
    fn of(s: &str) -> Self {
        let bytes = s.as_bytes();
        let (mut all, mut by_len) = (Vec::new(), HashMap::<usize, Vec<usize>>::new());
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'`' {
                let start = i;
                while i < bytes.len() && bytes[i] == b'`' {
                    i += 1;
                }
                all.push((start, i - start));
                by_len.entry(i - start).or_default().push(start);
            } else {
                i += 1;
            }
        }
        let mut blank_lines = Vec::new();
        let mut at = 0;
        for line in s.split_inclusive('\n') {
            if line.trim().is_empty() {
                blank_lines.push(at);
            }
            at += line.len();
        }
        Self {
            all,
            by_len,
            blank_lines,
        }
    }

    /// Where the paragraph holding `at` ends: at the next blank line, or the text's end.
    fn paragraph_end(&self, at: usize) -> usize {
        let next = self.blank_lines.partition_point(|&start| start <= at);
        self.blank_lines.get(next).copied().unwrap_or(usize::MAX)
    }

    /// Where the first run of exactly `len` backticks at or after `from` starts, if it
    /// starts before `end`.
    fn closing(&self, from: usize, len: usize, end: usize) -> Option<usize> {
        let starts = self.by_len.get(&len)?;
        let next = starts.partition_point(|&start| start < from);
        starts.get(next).copied().filter(|&start| start < end)
    }
}

/// Text outside code spans: nothing in it is read as HTML, a link, math or a mention.
fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '\\' | '[' | ']' | '$' => {
                out.push('\\');
                out.push(c);
            }
            '@' => out.push_str("@\u{200b}"),
            c => out.push(c),
        }
    }
    out
}

/// Multi-line text as a block quote, which keeps whatever Markdown it holds (an
/// unclosed code fence, say) from reaching the rest of the comment.
pub fn quote(s: &str) -> String {
    prose(s)
        .lines()
        .map(|line| {
            if line.trim().is_empty() {
                ">".to_owned()
            } else {
                format!("> {line}")
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn pr_link(number: Option<u64>, url: &str) -> String {
    let target = link_target(url);
    match number {
        Some(number) => format!("[#{number}]({target})"),
        None => format!("[{target}]({target})"),
    }
}

/// A URL as a link destination: the characters that would end or break a Markdown
/// link percent-encoded, and its length bounded.
pub fn link_target(url: &str) -> String {
    let mut out = String::with_capacity(url.len());
    for c in shorten(url.trim(), URL_CHARS).chars() {
        match c {
            '(' | ')' | '<' | '>' | '[' | ']' | '`' | '"' | '\\' => {
                let _ = write!(out, "%{:02X}", u32::from(c));
            }
            c if c.is_whitespace() || c.is_control() => {
                let mut buf = [0; 4];
                for byte in c.encode_utf8(&mut buf).bytes() {
                    let _ = write!(out, "%{byte:02X}");
                }
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod snapshots {
    use super::{GithubMarkup, code, prose, quote};
    use crate::messages::Text;
    use crate::messages::examples::{HOSTILE, hostile_rendered, rendered};

    #[test]
    fn every_message_on_github() {
        insta::assert_snapshot!(rendered(&GithubMarkup));
    }

    #[test]
    fn hostile_text_in_every_span_mentions_no_one_and_hides_nothing() {
        insta::assert_snapshot!(hostile_rendered(&GithubMarkup));
        for text in HOSTILE {
            let spans = [
                Text::new().plain(*text),
                Text::new().strong(*text),
                Text::new().link(*text, "https://lucid.example/s/1"),
            ];
            let words = spans
                .iter()
                .map(|s| s.render(&GithubMarkup))
                .chain([prose(text), quote(text)]);
            for out in words {
                // No tag, comment or autolink; no mention; no bracket but lucid's
                // own link's.
                assert!(!out.contains('<'), "{out:?}");
                assert!(
                    out.match_indices('@')
                        .all(|(at, _)| out[at + 1..].starts_with('\u{200b}')),
                    "{out:?}"
                );
                let rest = out.strip_prefix('[').unwrap_or(&out);
                let rest = rest.replace("](https://lucid.example/s/1)", "");
                for c in ['[', ']', '$'] {
                    assert!(
                        rest.match_indices(c)
                            .all(|(at, _)| rest[..at].ends_with('\\')),
                        "{c} in {out:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_code_span_cannot_reach_past_a_blank_line() {
        // GitHub ends the paragraph, and with it the would-be span, at the blank line:
        // what follows would be read as HTML.
        assert_eq!(prose("`a\n\n<!-- hidden -->`"), "`a\n\n&lt;!-- hidden -->`");
        assert_eq!(
            prose("`a\n<b>` c"),
            "`a\n<b>` c",
            "one paragraph: a code span"
        );
        assert_eq!(code("a\n\n<!-- b"), "`a  <!-- b`");
    }
}
