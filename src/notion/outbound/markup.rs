//! Notion's rich text: how lucid's messages read in a page's comments. Notion takes
//! no markup in text, only rich-text objects with annotations and links, so a message
//! is rendered with a few private-use characters marking its bold, code and links
//! ([`NotionMarkup`]), and [`rich_text`] turns that into Notion's objects. Those
//! characters are taken out of every text from people or the log, so nothing they
//! write can open a link or a code span.

use crate::messages::{Markup, Span, emoji_char};
use crate::notion::api::{MAX_ITEMS, MAX_TEXT_CHARS};
use serde_json::{Value, json};

const STRONG_OPEN: char = '\u{E000}';
const STRONG_CLOSE: char = '\u{E001}';
const CODE_OPEN: char = '\u{E002}';
const CODE_CLOSE: char = '\u{E003}';
const LINK_OPEN: char = '\u{E004}';
const LINK_TO: char = '\u{E005}';
const LINK_CLOSE: char = '\u{E006}';

pub struct NotionMarkup;

impl Markup for NotionMarkup {
    fn span(&self, span: &Span) -> String {
        match span {
            Span::Plain(text) => clean(text),
            Span::Strong(text) => format!("{STRONG_OPEN}{}{STRONG_CLOSE}", clean(text)),
            // People are named, not pinged: a comment's mention notifies them.
            Span::Mention(who) => format!("@{}", clean(&who.display_name)),
            Span::Code(text) => format!("{CODE_OPEN}{}{CODE_CLOSE}", clean(text)),
            Span::Block(lines) => format!("\n{CODE_OPEN}{}{CODE_CLOSE}", clean(lines)),
            Span::Link { label, url } if linkable(url) => {
                format!("{LINK_OPEN}{}{LINK_TO}{url}{LINK_CLOSE}", clean(label))
            }
            Span::Link { label, url } => format!("{} ({})", clean(label), clean(url)),
            Span::Emoji(name) => emoji_char(name).to_owned(),
        }
    }
}

/// Text with none of the marks in it.
fn clean(text: &str) -> String {
    text.chars()
        .filter(|c| !(STRONG_OPEN..=LINK_CLOSE).contains(c))
        .collect()
}

/// A URL Notion takes as a link: http(s), within its length limit.
fn linkable(url: &str) -> bool {
    (url.starts_with("https://") || url.starts_with("http://"))
        && url.chars().count() <= MAX_TEXT_CHARS
        && !url
            .chars()
            .any(|c| c.is_whitespace() || (STRONG_OPEN..=LINK_CLOSE).contains(&c))
}

/// A run of text with one look.
#[derive(Default, Clone, PartialEq, Debug)]
struct Run {
    text: String,
    bold: bool,
    code: bool,
    link: Option<String>,
}

/// A message rendered by [`NotionMarkup`] as Notion's rich-text objects: each at most
/// [`MAX_TEXT_CHARS`] characters, at most [`MAX_ITEMS`] of them (a message is cut
/// long before that). Marks a cut left unclosed end with the text.
pub fn rich_text(rendered: &str) -> Vec<Value> {
    let mut runs: Vec<Run> = Vec::new();
    let mut now = Run::default();
    let mut in_url = false;
    let mut url = String::new();
    let flush = |runs: &mut Vec<Run>, now: &mut Run| {
        if !now.text.is_empty() {
            runs.push(now.clone());
        }
        now.text.clear();
    };
    for c in rendered.chars() {
        match c {
            STRONG_OPEN | STRONG_CLOSE | CODE_OPEN | CODE_CLOSE | LINK_OPEN => {
                flush(&mut runs, &mut now);
                match c {
                    STRONG_OPEN => now.bold = true,
                    STRONG_CLOSE => now.bold = false,
                    CODE_OPEN => now.code = true,
                    CODE_CLOSE => now.code = false,
                    _ => now.link = Some(String::new()),
                }
            }
            LINK_TO => {
                in_url = true;
                url.clear();
            }
            LINK_CLOSE => {
                now.link = Some(std::mem::take(&mut url));
                flush(&mut runs, &mut now);
                now.link = None;
                in_url = false;
            }
            c if in_url => url.push(c),
            c => now.text.push(c),
        }
    }
    // A link cut before its address is shown as words.
    now.link = now.link.filter(|u| !u.is_empty());
    flush(&mut runs, &mut now);
    let mut items = Vec::new();
    for run in runs {
        let chars: Vec<char> = run.text.chars().collect();
        for chunk in chars.chunks(MAX_TEXT_CHARS) {
            let content: String = chunk.iter().collect();
            let link = run.link.as_ref().map(|url| json!({ "url": url }));
            items.push(json!({
                "type": "text",
                "text": { "content": content, "link": link },
                "annotations": { "bold": run.bold, "code": run.code },
            }));
        }
    }
    items.truncate(MAX_ITEMS);
    items
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::Text;

    #[test]
    fn bold_code_and_links_become_annotations_and_links() {
        let text = Text::new()
            .strong("Done.")
            .plain(" See ")
            .code("calc.py")
            .plain(" and ")
            .link("the PR", "https://github.com/acme/app/pull/1");
        let items = rich_text(&text.render(&NotionMarkup));
        let contents: Vec<&str> = items
            .iter()
            .map(|i| i["text"]["content"].as_str().unwrap())
            .collect();
        assert_eq!(contents, ["Done.", " See ", "calc.py", " and ", "the PR"]);
        assert_eq!(items[0]["annotations"]["bold"], true);
        assert_eq!(items[2]["annotations"]["code"], true);
        assert_eq!(items[1]["annotations"]["code"], false);
        assert_eq!(
            items[4]["text"]["link"]["url"],
            "https://github.com/acme/app/pull/1"
        );
        assert!(items[3]["text"]["link"].is_null());
    }

    #[test]
    fn people_cannot_write_marks_and_long_text_is_split_within_limits() {
        let sneaky = format!("{LINK_OPEN}click{LINK_TO}https://evil.example{LINK_CLOSE}");
        let items = rich_text(&Text::new().plain(sneaky).render(&NotionMarkup));
        assert_eq!(items.len(), 1);
        assert_eq!(items[0]["text"]["content"], "clickhttps://evil.example");
        assert!(items[0]["text"]["link"].is_null());
        let long = Text::new().block("x".repeat(4_500)).render(&NotionMarkup);
        let items = rich_text(&long);
        assert!(
            items.iter().all(|i| {
                i["text"]["content"].as_str().unwrap().chars().count() <= MAX_TEXT_CHARS
            })
        );
        let total: usize = items
            .iter()
            .map(|i| i["text"]["content"].as_str().unwrap().chars().count())
            .sum();
        assert_eq!(total, 4_501, "the newline and every x are kept");
        let huge = "y".repeat(MAX_TEXT_CHARS * (MAX_ITEMS + 5));
        assert_eq!(rich_text(&huge).len(), MAX_ITEMS);
    }

    #[test]
    fn a_link_that_is_no_web_address_is_shown_as_words() {
        let text = Text::new().link("log", "file:///etc/passwd");
        let items = rich_text(&text.render(&NotionMarkup));
        assert_eq!(items[0]["text"]["content"], "log (file:///etc/passwd)");
        assert!(items[0]["text"]["link"].is_null());
    }
}

#[cfg(test)]
mod snapshots {
    use super::{NotionMarkup, rich_text};
    use crate::messages::examples::rendered;

    /// Notion's rich text as a person sees it: bold, code and links spelled out.
    fn readable(rendered: &str) -> String {
        rich_text(rendered)
            .iter()
            .map(|item| {
                let text = item["text"]["content"].as_str().unwrap_or_default();
                let mut shown = text.to_owned();
                if item["annotations"]["code"] == true {
                    shown = format!("`{shown}`");
                }
                if item["annotations"]["bold"] == true {
                    shown = format!("**{shown}**");
                }
                match item["text"]["link"]["url"].as_str() {
                    Some(url) => format!("[{shown}]({url})"),
                    None => shown,
                }
            })
            .collect()
    }

    #[test]
    fn hostile_text_in_every_span_links_nowhere_but_lucids_own_link() {
        // Notion reads no markup in text and names people only with mention objects:
        // whatever the text says, it stays text.
        let all = crate::messages::examples::hostile_rendered(&NotionMarkup);
        let mut shown = String::new();
        for part in all.split("\n### ") {
            let items = rich_text(part);
            for item in &items {
                let link = &item["text"]["link"];
                assert!(
                    link.is_null() || link["url"] == "https://lucid.example/s/1",
                    "{item}"
                );
                assert_eq!(item["type"], "text", "{item}");
            }
            shown.push_str(&readable(part));
            shown.push_str("\n### ");
        }
        insta::assert_snapshot!(shown);
    }

    #[test]
    fn every_message_in_notion() {
        let all = rendered(&NotionMarkup);
        // Rendered in pieces: the whole catalogue is more than one comment holds.
        let shown: String = all
            .split("\n\n")
            .map(|part| readable(part) + "\n\n")
            .collect();
        insta::assert_snapshot!(shown);
    }
}
