//! Discord's Markdown: how lucid's messages read in a Discord thread. Text from people
//! and from the log is escaped, so it cannot format the rest of a message, open a
//! mention (`<@…>`, `<#…>`) or a masked link, or close a code block early. Nothing
//! pings anyone whatever the text says: every message also sets `allowed_mentions`
//! to nothing (see `client`).

use crate::messages::{Markup, Span, emoji_char, no_crowd_pings};

pub struct DiscordMarkup;

impl Markup for DiscordMarkup {
    fn span(&self, span: &Span) -> String {
        match span {
            Span::Plain(text) => escape(text),
            Span::Strong(text) => format!("**{}**", escape(text)),
            Span::Mention(who) => mention(&who.id),
            Span::Code(text) => format!("`{}`", inline_code(text)),
            Span::Block(lines) => format!("\n```\n{}\n```", fence_safe(lines)),
            Span::Link { label, url } => format!("[{}](<{}>)", escape(label), link_target(url)),
            Span::Emoji(name) => emoji_char(name).to_owned(),
        }
    }
}

/// A user id is shown as the person's name; any other id (from another platform) as
/// words.
fn mention(id: &str) -> String {
    if !id.is_empty() && id.chars().all(|c| c.is_ascii_digit()) {
        format!("<@{id}>")
    } else {
        escape(id)
    }
}

/// Every character Discord's Markdown gives a meaning to is taken literally; an `@`
/// is followed by a zero-width space so `@everyone` does not even look like a ping.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    let mut line_start = true;
    for c in text.chars() {
        match c {
            // `[` and `]` escaped, no masked link `[label](url)` can start.
            '\\' | '*' | '_' | '~' | '|' | '`' | '[' | ']' | '<' | '>' => {
                out.push('\\');
                out.push(c);
            }
            // Headings, lists and subtext only begin a line.
            '#' | '-' | '+' if line_start => {
                out.push('\\');
                out.push(c);
            }
            '@' => out.push_str("@\u{200b}"),
            _ => out.push(c),
        }
        line_start = c == '\n' || (line_start && c.is_whitespace());
    }
    out
}

/// Inline code holds no backtick of its own (Discord has no way to escape one there),
/// and no `@everyone` or `@here`.
fn inline_code(text: &str) -> String {
    let text = no_crowd_pings(&text.replace('`', "'").replace('\n', " "));
    if text.is_empty() {
        " ".to_owned()
    } else {
        text
    }
}

/// A block's text, unable to close the block early, with no `@everyone` or `@here`.
fn fence_safe(text: &str) -> String {
    no_crowd_pings(&text.replace("```", "``\u{200b}`"))
}

/// A link target inside `<…>` (so Discord shows no preview): nothing in it can end
/// the link early.
fn link_target(url: &str) -> String {
    url.replace('>', "%3E")
        .replace('<', "%3C")
        .replace(')', "%29")
        .replace(' ', "%20")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::Text;

    #[test]
    fn text_cannot_format_ping_or_link() {
        let text = Text::new().plain("**bold** <@123> @everyone [x](http://e) `c` # h\n- item");
        let out = text.render(&DiscordMarkup);
        assert_eq!(
            out,
            "\\*\\*bold\\*\\* \\<@\u{200b}123\\> @\u{200b}everyone \\[x\\](http://e) \\`c\\` # h\n\\- item"
        );
    }

    #[test]
    fn code_blocks_cannot_be_closed_early() {
        let out = Text::new().block("a\n```\nb").render(&DiscordMarkup);
        assert_eq!(out, "\n```\na\n``\u{200b}`\nb\n```");
        assert_eq!(Text::new().code("a`b").render(&DiscordMarkup), "`a'b`");
    }

    #[test]
    fn links_keep_their_target_whole() {
        let out = Text::new()
            .link("log [1]", "http://x/a b)c>")
            .render(&DiscordMarkup);
        assert_eq!(out, "[log \\[1\\]](<http://x/a%20b%29c%3E>)");
    }

    #[test]
    fn a_discord_user_is_mentioned_by_id() {
        let who = crate::core::Author {
            id: "53908232506183680".into(),
            display_name: "Mason".into(),
        };
        assert_eq!(
            Text::new().mention(&who).render(&DiscordMarkup),
            "<@53908232506183680>"
        );
    }
}

#[cfg(test)]
mod snapshots {
    use super::DiscordMarkup;
    use crate::messages::Text;
    use crate::messages::examples::{HOSTILE, hostile_rendered, rendered};

    #[test]
    fn every_message_in_discord() {
        insta::assert_snapshot!(rendered(&DiscordMarkup));
    }

    #[test]
    fn hostile_text_in_every_span_mentions_no_one_and_hides_no_link() {
        insta::assert_snapshot!(hostile_rendered(&DiscordMarkup));
        for text in HOSTILE {
            let spans = [
                Text::new().plain(*text),
                Text::new().strong(*text),
                Text::new().code(*text),
                Text::new().block(*text),
                Text::new().link(*text, "https://lucid.example/s/1"),
            ];
            for span in spans {
                let out = span.render(&DiscordMarkup);
                // No crowd is pinged; outside code, every `@` is broken and every
                // `[`, `<` and `|` escaped but the one `[` of lucid's own link.
                let code = out.starts_with('`') || out.starts_with("\n```");
                assert!(
                    out.match_indices('@')
                        .all(|(at, _)| code || out[at + 1..].starts_with('\u{200b}')),
                    "{out:?}"
                );
                for crowd in ["@here", "@everyone"] {
                    assert!(!out.to_lowercase().contains(crowd), "{out:?}");
                }
                if !code {
                    let rest = out.strip_prefix('[').unwrap_or(&out);
                    let rest = rest
                        .strip_prefix("**")
                        .and_then(|r| r.strip_suffix("**"))
                        .unwrap_or(rest);
                    let rest = rest.replace("](<https://lucid.example/s/1>)", "");
                    for c in ['[', ']', '<', '>', '|', '*', '_', '~'] {
                        assert!(
                            rest.match_indices(c)
                                .all(|(at, _)| rest[..at].ends_with('\\')),
                            "{c} in {out:?}"
                        );
                    }
                }
            }
        }
    }
}
