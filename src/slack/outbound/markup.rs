//! Slack's mrkdwn: how lucid's messages read in a Slack thread. Every `<`, `>` and `&`
//! from text is escaped, so nothing a person or the log wrote becomes a mention or a
//! link, and a code block cannot be closed early.

use crate::messages::{Markup, Span};

pub struct SlackMarkup;

impl Markup for SlackMarkup {
    fn span(&self, span: &Span) -> String {
        match span {
            Span::Plain(text) => escape(text),
            Span::Strong(text) => format!("*{}*", escape(text)),
            Span::Mention(who) => format!("<@{}>", who.id),
            Span::Code(text) => format!("`{}`", escape(text).replace('`', "'")),
            Span::Block(lines) => format!("\n```{}```", fence_safe(lines)),
            Span::Link { label, url } => format!("<{}|{}>", escape(url), escape(label)),
            Span::Emoji(name) => format!(":{name}:"),
        }
    }
}

/// Slack's three escapes: every other `<` would start markup.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Text inside a ``` block: escaped, and unable to close the block early.
fn fence_safe(text: &str) -> String {
    escape(text).replace("```", "``\u{200b}`")
}

#[cfg(test)]
mod snapshots {
    use super::SlackMarkup;
    use crate::messages::examples::rendered;

    #[test]
    fn every_message_in_slack() {
        insta::assert_snapshot!(rendered(&SlackMarkup));
    }
}
