//! What a Slack message asks for, read from Slack's markup: `<@U123>` mentions,
//! `<https://…|label>` links, `<#C123|channel>`, `<!here>`, and `&amp;`, `&lt;`, `&gt;`
//! for the three characters Slack escapes (so a `<` in a message is always markup).

/// A message's text made into a task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    /// The text with the bot's mentions taken out, links turned back into their URLs,
    /// other mentions into `@name` / `#channel` where Slack gave a name, Slack's
    /// escapes undone, trimmed. It may be empty (a bare mention); the caller decides
    /// what that means. The repository it names is the forge's to find.
    pub text: String,
}

/// Reads `text` (Slack's markup, as a message event carries it) into a task for the
/// agent, taking out the mentions of `bot_user_id` (`<@U0BOT>` or `<@U0BOT|lucid>`),
/// each with one punctuation mark right after it (`<@U0BOT>:`) and the spaces that
/// follow, so the words around close up.
pub fn task_text(text: &str, bot_user_id: &str) -> Task {
    Task {
        text: join(pieces(text, Some(bot_user_id))),
    }
}

/// Whether the message is just "stop" (`stop`, `stop.`, `STOP!`, `:octagonal_sign: stop`)
/// once its mentions and emoji are taken out. Works on Slack's markup and on a
/// [`Task`]'s text alike.
pub fn is_stop(text: &str) -> bool {
    let mut rest = String::with_capacity(text.len());
    for piece in pieces(text, None) {
        match piece {
            Piece::Text(t) => rest.push_str(&t),
            Piece::Mention => rest.push(' '),
        }
    }
    let words: Vec<&str> = rest
        .split_whitespace()
        .filter(|w| !is_emoji_code(w) && w.chars().any(char::is_alphanumeric))
        .collect();
    match words.as_slice() {
        [word] => word
            .trim_matches(|c: char| !c.is_alphanumeric())
            .eq_ignore_ascii_case("stop"),
        _ => false,
    }
}

enum Piece {
    Text(String),
    /// A mention taken out: `<@U123>` or `<@U123|name>`.
    Mention,
}

/// Cuts Slack's markup into text (other markup made plain) and the mentions of the user
/// `take_out` (of every user when `None`; of none when it is empty).
fn pieces(text: &str, take_out: Option<&str>) -> Vec<Piece> {
    let mut pieces = Vec::new();
    let mut buf = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('<') {
        buf.push_str(&unescape(&rest[..open]));
        let after = &rest[open + 1..];
        let Some(close) = after
            .find(['>', '<'])
            .filter(|&i| after[i..].starts_with('>'))
        else {
            // Not markup after all (Slack escapes a typed `<`): keep it.
            buf.push('<');
            rest = after;
            continue;
        };
        let inner = &after[..close];
        rest = &after[close + 1..];
        let (target, label) = match inner.split_once('|') {
            Some((target, label)) => (target, Some(label).filter(|l| !l.is_empty())),
            None => (inner, None),
        };
        if let Some(id) = target.strip_prefix('@') {
            if take_out.is_none_or(|user| !user.is_empty() && user == id) {
                pieces.push(Piece::Text(std::mem::take(&mut buf)));
                pieces.push(Piece::Mention);
            } else {
                match label {
                    Some(name) => {
                        buf.push('@');
                        buf.push_str(&unescape(name));
                    }
                    None => buf.push_str(&format!("<@{id}>")),
                }
            }
            continue;
        }
        let plain = match (target.as_bytes().first(), label) {
            (Some(b'#'), Some(name)) => format!("#{}", unescape(name)),
            (Some(b'#'), None) => format!("<{target}>"),
            (Some(b'!'), Some(label)) => unescape(label),
            (Some(b'!'), None) => match &target[1..] {
                special @ ("here" | "channel" | "everyone") => format!("@{special}"),
                _ => format!("<{target}>"),
            },
            _ => {
                let url = unescape(target);
                match url.strip_prefix("mailto:") {
                    Some(address) => address.to_owned(),
                    None => url,
                }
            }
        };
        buf.push_str(&plain);
    }
    buf.push_str(&unescape(rest));
    pieces.push(Piece::Text(buf));
    pieces
}

/// The text of `pieces` without their mentions, closed up around each.
fn join(pieces: Vec<Piece>) -> String {
    let mut out = String::new();
    let mut after_mention = false;
    for piece in pieces {
        match piece {
            Piece::Mention => after_mention = true,
            Piece::Text(text) => {
                let mut text = text.as_str();
                if after_mention {
                    text = text
                        .strip_prefix([':', ',', '.', '!', '?', ';'])
                        .unwrap_or(text);
                    text = text.trim_start_matches([' ', '\t']);
                    if text.is_empty() || text.starts_with(['\n', '\r']) {
                        out.truncate(out.trim_end_matches([' ', '\t']).len());
                    }
                    after_mention = text.is_empty();
                }
                out.push_str(text);
            }
        }
    }
    out.trim().to_owned()
}

/// Undoes Slack's three escapes, in one pass (`&amp;lt;` is `&lt;`, not `<`).
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let (plain, len) = if rest.starts_with("&amp;") {
            ('&', 5)
        } else if rest.starts_with("&lt;") {
            ('<', 4)
        } else if rest.starts_with("&gt;") {
            ('>', 4)
        } else {
            ('&', 1)
        };
        out.push(plain);
        rest = &rest[len..];
    }
    out.push_str(rest);
    out
}

/// `:octagonal_sign:`, `:+1:`, `:skin-tone-2:`: how Slack writes emoji in text.
fn is_emoji_code(word: &str) -> bool {
    word.len() > 2
        && word.starts_with(':')
        && word.ends_with(':')
        && word[1..word.len() - 1]
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '-' | ':'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOT: &str = "U0LAN0Z89";

    fn text(markup: &str) -> String {
        task_text(markup, BOT).text
    }

    #[test]
    fn the_bots_mentions_are_taken_out() {
        for (markup, expected) in [
            ("<@U0LAN0Z89> fix the failing test", "fix the failing test"),
            ("<@U0LAN0Z89|lucid> fix it", "fix it"),
            (
                "<@U0LAN0Z89>: please fix this\n\nDetails:\n- it panics",
                "please fix this\n\nDetails:\n- it panics",
            ),
            (
                "Hey <@U0LAN0Z89>, can you fix this?",
                "Hey can you fix this?",
            ),
            ("Fix the build please <@U0LAN0Z89>.", "Fix the build please"),
            (
                "ping <@U0LAN0Z89>\nthe docs are stale",
                "ping\nthe docs are stale",
            ),
            (
                "<@U0LAN0Z89> fix this, then <@U0LAN0Z89> add a test",
                "fix this, then add a test",
            ),
            ("<@U0LAN0Z89><@U0LAN0Z89> twice", "twice"),
            ("<@U0LAN0Z89>", ""),
            ("  <@U0LAN0Z89>!  ", ""),
            ("café <@U0LAN0Z89> résumé", "café résumé"),
        ] {
            assert_eq!(text(markup), expected, "for {markup:?}");
        }
    }

    #[test]
    fn other_markup_is_made_plain() {
        for (markup, expected) in [
            (
                "<@U0LAN0Z89> ask <@U061F7AUR> first",
                "ask <@U061F7AUR> first",
            ),
            ("<@U0LAN0Z89> ask <@U061F7AUR|ana> first", "ask @ana first"),
            ("<@U0LAN0Z89> see <#C0LAN2Q65|widgets>", "see #widgets"),
            ("<@U0LAN0Z89> see <#C0LAN2Q65|>", "see <#C0LAN2Q65>"),
            ("<!here> <@U0LAN0Z89> look", "@here look"),
            ("<!subteam^S0614TZR7|@devs> <@U0LAN0Z89> look", "@devs look"),
            (
                "<!date^1392734382^{date_short}|Feb 18, 2014> deadline",
                "Feb 18, 2014 deadline",
            ),
            (
                "mail <mailto:ana@acme.dev|ana@acme.dev>",
                "mail ana@acme.dev",
            ),
        ] {
            assert_eq!(text(markup), expected, "for {markup:?}");
        }
    }

    #[test]
    fn links_become_their_urls_again() {
        for (markup, expected) in [
            (
                "<@U0LAN0Z89> fix <https://github.com/acme/widgets/issues/12|this issue>",
                "fix https://github.com/acme/widgets/issues/12",
            ),
            (
                "<https://github.com/acme/widgets>",
                "https://github.com/acme/widgets",
            ),
            (
                "see <https://example.com/search?q=a&amp;b=c|the search>",
                "see https://example.com/search?q=a&b=c",
            ),
            (
                "<http://github.com/acme/widgets|github.com/acme/widgets>",
                "http://github.com/acme/widgets",
            ),
        ] {
            assert_eq!(text(markup), expected, "for {markup:?}");
        }
    }

    #[test]
    fn slacks_escapes_are_undone_once() {
        for (markup, expected) in [
            ("if a &lt; b &amp;&amp; b &gt; c", "if a < b && b > c"),
            ("literal &amp;lt; stays", "literal &lt; stays"),
            ("AT&T & co", "AT&T & co"),
            ("Vec&lt;String&gt;", "Vec<String>"),
            ("a stray < is kept", "a stray < is kept"),
            ("a <broken <https://x.dev|link>", "a <broken https://x.dev"),
        ] {
            assert_eq!(text(markup), expected, "for {markup:?}");
        }
    }

    #[test]
    fn the_task_keeps_the_link_to_its_repository() {
        let task = task_text(
            "<@U0LAN0Z89> fix the flaky test in <https://github.com/acme/widgets|acme/widgets> \
             &amp; add a regression test",
            BOT,
        );
        assert_eq!(
            task,
            Task {
                text:
                    "fix the flaky test in https://github.com/acme/widgets & add a regression test"
                        .into(),
            }
        );
    }

    #[test]
    fn an_empty_bot_id_takes_nothing_out() {
        assert_eq!(
            task_text("<@U0LAN0Z89> fix it", "").text,
            "<@U0LAN0Z89> fix it"
        );
    }

    #[test]
    fn stop_is_the_message_alone() {
        for (markup, expected) in [
            ("stop", true),
            ("stop.", true),
            ("STOP!", true),
            ("  Stop  ", true),
            ("<@U0LAN0Z89> stop", true),
            ("<@U0LAN0Z89|lucid>, stop!", true),
            ("stop <@U0LAN0Z89>", true),
            (":octagonal_sign: stop :pray:", true),
            ("stop 🙏", true),
            ("stop the flaky test", false),
            ("stopwatch", false),
            ("don't stop", false),
            ("please stop", false),
            ("", false),
            ("<@U0LAN0Z89>", false),
            ("st op", false),
        ] {
            assert_eq!(is_stop(markup), expected, "for {markup:?}");
        }
    }
}
