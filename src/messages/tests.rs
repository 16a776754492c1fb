use super::examples::{ada, catalogue, rendered};
use super::*;

#[test]
fn every_message_in_words() {
    insta::assert_snapshot!(rendered(&PlainWords));
}

#[test]
fn what_is_said_to_a_person_mentions_them_the_platforms_way() {
    // A mention is a span, so each platform names the person its own way (a ping in
    // Slack, @login on GitHub); a name typed into the words would read wrong on all
    // but one.
    let addressed = ["refusal", "which repository", "asked", "stopped by"];
    let mut seen = 0;
    for (name, text) in catalogue() {
        if !addressed.iter().any(|prefix| name.starts_with(prefix)) {
            continue;
        }
        seen += 1;
        let mentions = text.0.iter().any(|span| *span == Span::Mention(ada()));
        let typed = text
            .0
            .iter()
            .any(|span| matches!(span, Span::Plain(p) if p.contains(&ada().id)));
        assert!(mentions && !typed, "{name}: {}", text.words());
    }
    assert_eq!(seen, 12);
}

#[test]
fn shortening_keeps_the_limit_and_says_it_cut() {
    assert_eq!(shorten("  abc  ", 3), "abc");
    assert_eq!(shorten("abcdef", 4), "abc…");
    assert_eq!(one_line("a\n\tb  c"), "a b c");
}

#[test]
fn what_stands_in_for_a_diff_that_is_not_shown() {
    insta::assert_snapshot!(format!(
        "{}\n{}",
        binary_file_changed(),
        diff_too_large("20000", "3")
    ));
}
