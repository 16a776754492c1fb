//! ToyChat's markup, in the manner of BBCode: `[b]…[/b]`, `[code]…[/code]`,
//! `[pre]…[/pre]`, `[url=…]…[/url]`, `[@user]` (a ping), `:emoji:`. A `[` that is not
//! markup is written `\[` (and `\` as `\\`), so text from people or the log can
//! neither open a tag nor ping anyone.

use lucid::messages::{Markup, Span};

pub struct ToyMarkup;

impl Markup for ToyMarkup {
    fn span(&self, span: &Span) -> String {
        match span {
            Span::Plain(text) => escape(text),
            Span::Strong(text) => format!("[b]{}[/b]", escape(text)),
            Span::Mention(who) => format!("[@{}]", escape(&who.id)),
            Span::Code(text) => format!("[code]{}[/code]", escape(text)),
            Span::Block(lines) => format!("\n[pre]{}[/pre]", escape(lines)),
            Span::Link { label, url } => format!("[url={}]{}[/url]", target(url), escape(label)),
            Span::Emoji(name) => format!(":{name}:"),
        }
    }
}

pub fn escape(text: &str) -> String {
    text.replace('\\', "\\\\").replace('[', "\\[")
}

/// A URL as a tag's value: nothing in it can end the tag.
fn target(url: &str) -> String {
    url.trim()
        .chars()
        .map(|c| match c {
            ']' => "%5D".to_owned(),
            '[' => "%5B".to_owned(),
            c if c.is_whitespace() => "%20".to_owned(),
            c => c.to_string(),
        })
        .collect()
}

#[test]
fn text_from_people_cannot_open_a_tag_or_ping() {
    use lucid::messages::Text;
    let who = lucid::messages::examples::ada();
    let text = Text::new()
        .plain("[@eve] said [b]hi[/b] \\o/")
        .mention(&who)
        .code("a[0]")
        .link("the [diff]", "http://x/a b]");
    assert_eq!(
        text.render(&ToyMarkup),
        "\\[@eve] said \\[b]hi\\[/b] \\\\o/[@ada][code]a\\[0][/code][url=http://x/a%20b%5D]the \\[diff][/url]"
    );
}

#[test]
fn every_message_on_toychat() {
    insta::assert_snapshot!(lucid::messages::examples::rendered(&ToyMarkup));
}
