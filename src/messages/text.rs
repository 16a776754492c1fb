//! A message as spans of meaning, and the one trait a platform implements to write
//! them in its markup.

use crate::core::Author;

/// One piece of a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Span {
    /// Words, shown as they are (a renderer escapes whatever its markup would read).
    Plain(String),
    /// Words that stand out (the state in a headline).
    Strong(String),
    /// A person, named the way the platform names people (a ping where it pings).
    Mention(Author),
    /// Code, a path or a command, on one line.
    Code(String),
    /// Lines shown as they are, in a block (output, a diff).
    Block(String),
    Link {
        label: String,
        url: String,
    },
    /// An emoji by its common short name (`white_check_mark`).
    Emoji(&'static str),
}

/// A message: spans, in order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Text(pub Vec<Span>);

impl Text {
    pub fn new() -> Text {
        Text(Vec::new())
    }

    pub fn plain(mut self, words: impl Into<String>) -> Text {
        self.0.push(Span::Plain(words.into()));
        self
    }

    pub fn strong(mut self, words: impl Into<String>) -> Text {
        self.0.push(Span::Strong(words.into()));
        self
    }

    pub fn mention(mut self, who: &Author) -> Text {
        self.0.push(Span::Mention(who.clone()));
        self
    }

    pub fn code(mut self, code: impl Into<String>) -> Text {
        self.0.push(Span::Code(code.into()));
        self
    }

    pub fn block(mut self, lines: impl Into<String>) -> Text {
        self.0.push(Span::Block(lines.into()));
        self
    }

    pub fn link(mut self, label: impl Into<String>, url: impl Into<String>) -> Text {
        self.0.push(Span::Link {
            label: label.into(),
            url: url.into(),
        });
        self
    }

    pub fn emoji(mut self, name: &'static str) -> Text {
        self.0.push(Span::Emoji(name));
        self
    }

    /// Another message's spans after this one's.
    pub fn then(mut self, more: Text) -> Text {
        self.0.extend(more.0);
        self
    }

    /// The words alone, as a person would read them aloud: for logs, tests and
    /// platforms without markup.
    pub fn words(&self) -> String {
        self.render(&PlainWords).trim().to_owned()
    }

    pub fn render(&self, markup: &dyn Markup) -> String {
        self.0.iter().map(|span| markup.span(span)).collect()
    }
}

/// How a platform writes each kind of span.
pub trait Markup {
    fn span(&self, span: &Span) -> String;
}

/// No markup at all.
pub struct PlainWords;

impl Markup for PlainWords {
    fn span(&self, span: &Span) -> String {
        match span {
            Span::Plain(s) | Span::Strong(s) | Span::Code(s) => s.clone(),
            Span::Block(s) => format!("\n{s}"),
            Span::Mention(who) => format!("@{}", who.display_name),
            Span::Link { label, url } => format!("{label} ({url})"),
            Span::Emoji(_) => String::new(),
        }
    }
}

/// At most `max` characters, the last of them `…` when something was cut; trimmed.
pub fn shorten(text: &str, max: usize) -> String {
    let text = text.trim();
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
        cut.push('…');
        cut
    }
}

/// The text on one line: runs of whitespace, newlines included, made one space.
pub fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// [`one_line`] then [`shorten`] to `max` characters, reading no more of `text` than
/// it keeps (a status shows 300 characters of a thought that may run to megabytes).
pub fn one_line_within(text: &str, max: usize) -> String {
    let mut chars = text
        .split_whitespace()
        .flat_map(|word| std::iter::once(' ').chain(word.chars()))
        .skip(1);
    let mut kept: String = chars.by_ref().take(max).collect();
    if chars.next().is_some() {
        kept.pop();
        kept.push('…');
    }
    kept
}

/// `text` with a zero-width space after the `@` of every `@channel`, `@here` and
/// `@everyone` (any case), so that no platform reads them as a ping, even where it
/// looks for them inside code; other `@`s are left as they are, to be copied.
pub fn no_crowd_pings(text: &str) -> String {
    const CROWDS: [&str; 3] = ["channel", "here", "everyone"];
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('@') {
        out.push_str(&rest[..=at]);
        rest = &rest[at + 1..];
        let names_crowd = CROWDS.iter().any(|crowd| {
            rest.get(..crowd.len())
                .is_some_and(|head| head.eq_ignore_ascii_case(crowd))
        });
        if names_crowd {
            out.push('\u{200b}');
        }
    }
    out.push_str(rest);
    out
}

/// An emoji's short name (Slack's, as [`Span::Emoji`] holds it) as the character
/// platforms without short names show.
pub fn emoji_char(name: &str) -> &'static str {
    match name {
        "hourglass_flowing_sand" => "⏳",
        "package" => "📦",
        "hammer_and_wrench" => "🛠️",
        "white_check_mark" => "✅",
        "x" => "❌",
        "black_square_for_stop" => "⏹️",
        "warning" => "⚠️",
        "pencil2" => "✏️",
        "link" => "🔗",
        "eyes" => "👀",
        "raised_hand" => "✋",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::{one_line, one_line_within, shorten};

    #[test]
    fn one_line_within_is_one_line_then_shorten() {
        let texts = [
            "",
            "   \n\t ",
            "abc",
            "  a  b\n\nc  ",
            "abcdef",
            "abcde",
            "abcd ef",
            "ab     cdef   ",
            "héllo wörld ✓ ok",
            "\u{2003}a\u{2003}b",
        ];
        for text in texts {
            for max in 0..=8 {
                assert_eq!(
                    one_line_within(text, max),
                    shorten(&one_line(text), max),
                    "{text:?} within {max}"
                );
            }
        }
    }
}
