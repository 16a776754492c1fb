use super::examples::{ada, catalogue, rendered};
use super::*;

#[test]
fn every_message_in_words() {
    insta::assert_snapshot!(rendered(&PlainWords));
}

#[test]
fn every_message_names_its_person_by_a_mention_not_by_hand() {
    // The person is a span, so each platform names them its own way.
    for (name, text) in catalogue() {
        let words = text.words();
        let by_hand = text
            .0
            .iter()
            .any(|span| matches!(span, Span::Plain(p) if p.contains(&ada().id) && !p.contains("stopped by @ada")));
        assert!(!by_hand, "{name} names a person by hand: {words}");
    }
}

#[test]
fn shortening_keeps_the_limit_and_says_it_cut() {
    assert_eq!(shorten("  abc  ", 3), "abc");
    assert_eq!(shorten("abcdef", 4), "abc…");
    assert_eq!(one_line("a\n\tb  c"), "a b c");
}
