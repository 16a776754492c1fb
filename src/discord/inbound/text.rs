//! What a Discord message asks for: its text without the bot's mentions.

/// The message's text with every mention of the bot (`<@id>`, `<@!id>`) taken out.
pub fn task_text(content: &str, bot: Option<u64>) -> String {
    let Some(bot) = bot else {
        return content.trim().to_owned();
    };
    content
        .replace(&format!("<@{bot}>"), " ")
        .replace(&format!("<@!{bot}>"), " ")
        .trim()
        .to_owned()
}

/// The task is the one word "stop" (punctuation aside).
pub fn is_stop(task: &str) -> bool {
    let words: Vec<&str> = task.split_whitespace().collect();
    matches!(words.as_slice(), [word] if word
        .trim_matches(|c: char| !c.is_alphanumeric())
        .eq_ignore_ascii_case("stop"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bots_mentions_are_taken_out() {
        assert_eq!(
            task_text("<@42> fix <@7> in acme/app <@!42>", Some(42)),
            "fix <@7> in acme/app"
        );
        assert_eq!(task_text("  hi ", None), "hi");
    }

    #[test]
    fn stop_is_one_word() {
        assert!(is_stop("stop"));
        assert!(is_stop(" Stop! "));
        assert!(!is_stop("stop the tests from flaking"));
        assert!(!is_stop(""));
    }
}
