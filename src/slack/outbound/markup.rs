//! Slack's mrkdwn: how lucid's messages read in a Slack thread. Every `<`, `>` and `&`
//! from text is escaped, so nothing a person or the log wrote becomes a mention
//! (`<!channel>`, `<@U…>`, `<!subteam^…>`) or a link (`<http://…|innocent>`); an `@`
//! is followed by a zero-width space, so the mentions Slack finds in plain words
//! (`@channel`, `@here`, `@everyone`) are not found; and a code block cannot be closed
//! early.

use crate::messages::{Markup, Span, no_crowd_pings};

pub struct SlackMarkup;

impl Markup for SlackMarkup {
    fn span(&self, span: &Span) -> String {
        match span {
            Span::Plain(text) => escape(text),
            Span::Strong(text) => format!("*{}*", escape(text)),
            Span::Mention(who) => format!("<@{}>", who.id),
            Span::Code(text) => format!("`{}`", code_safe(text).replace('`', "'")),
            Span::Block(lines) => format!("\n```{}```", fence_safe(lines)),
            Span::Link { label, url }
                if url.starts_with("https://") || url.starts_with("http://") =>
            {
                format!("<{}|{}>", link_target(url), escape(label))
            }
            // Anything else in `<…|…>` could be a mention (`<!channel|x>`, `<@U1|x>`).
            Span::Link { label, url } => format!("{} ({})", escape(label), escape(url)),
            Span::Emoji(name) => format!(":{name}:"),
        }
    }
}

/// Slack's three escapes (every other `<` would start markup), and a zero-width space
/// after each `@`.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('@', "@\u{200b}")
}

/// A link's target: escaped, and with no `|` that would end it and start its label.
fn link_target(url: &str) -> String {
    url.replace('&', "&amp;")
        .replace('<', "%3C")
        .replace('>', "%3E")
        .replace('|', "%7C")
}

/// Code as it is, but for Slack's three escapes and `@channel`, `@here` and
/// `@everyone` broken (an `@` before anything else is kept, to be copied).
fn code_safe(text: &str) -> String {
    no_crowd_pings(
        &text
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;"),
    )
}

/// Text inside a ``` block: escaped, and unable to close the block early.
fn fence_safe(text: &str) -> String {
    code_safe(text).replace("```", "``\u{200b}`")
}

#[cfg(test)]
mod snapshots {
    use super::SlackMarkup;
    use crate::messages::examples::{HOSTILE, hostile_rendered, rendered};
    use crate::messages::{Markup, Text};

    #[test]
    fn every_message_in_slack() {
        insta::assert_snapshot!(rendered(&SlackMarkup));
    }

    #[test]
    fn hostile_text_in_every_span_mentions_no_one_and_hides_no_link() {
        insta::assert_snapshot!(hostile_rendered(&SlackMarkup));
        for text in HOSTILE {
            let spans = [
                Text::new().plain(*text),
                Text::new().strong(*text),
                Text::new().code(*text),
                Text::new().block(*text),
                Text::new().link(*text, "https://lucid.example/s/1"),
                Text::new().link("log", *text),
            ];
            for span in spans {
                let out = span.render(&SlackMarkup as &dyn Markup);
                // The one `<` left opens lucid's own link; no crowd is pinged, and
                // outside code every `@` is broken.
                let rest = out.replacen("<https://lucid.example/s/1|", "", 1);
                assert!(!rest.contains('<'), "{out:?}");
                assert!(
                    out.match_indices('@').all(|(at, _)| {
                        out[at + 1..].starts_with('\u{200b}')
                            || out.starts_with('`')
                            || out.starts_with("\n```")
                    }),
                    "{out:?}"
                );
                for crowd in ["@channel", "@here", "@everyone"] {
                    assert!(!out.to_lowercase().contains(crowd), "{out:?}");
                }
            }
        }
    }
}
