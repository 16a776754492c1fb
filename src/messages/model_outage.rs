//! Why a session failed when the model provider gave no answer in all the tries lucid
//! makes (busy with 429 or 529, failing with 5xx, answers cut off, no answer at all):
//! kept as the session's reason and shown after "The session failed:".

use crate::core::words::elapsed_words;
use std::time::Duration;

/// How one try of the model provider went wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProviderTrouble {
    /// It said it is busy: 429, or Anthropic's 529 (overloaded).
    Busy(u16),
    /// It failed with another 5xx.
    Failing(u16),
    /// Its answer stopped halfway (a cut stream).
    BrokeOff,
    /// No answer came: no connection, a timeout.
    NoAnswer,
}

/// The words of an HTTP status lucid meets from providers, after its number.
fn status_words(status: u16) -> String {
    let words = match status {
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        529 => "Overloaded",
        _ => return status.to_string(),
    };
    format!("{status} {words}")
}

/// A way tries went wrong, whatever the status: what [`ProviderTrouble`]s are told
/// together as.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Busy,
    Failing,
    BrokeOff,
    NoAnswer,
}

fn kind_and_status(trouble: ProviderTrouble) -> (Kind, Option<u16>) {
    match trouble {
        ProviderTrouble::Busy(status) => (Kind::Busy, Some(status)),
        ProviderTrouble::Failing(status) => (Kind::Failing, Some(status)),
        ProviderTrouble::BrokeOff => (Kind::BrokeOff, None),
        ProviderTrouble::NoAnswer => (Kind::NoAnswer, None),
    }
}

/// Each kind of trouble met, in the order first met: how many tries, and the
/// statuses answered (each once, in order).
fn grouped(troubles: &[ProviderTrouble]) -> Vec<(Kind, usize, Vec<u16>)> {
    let mut groups: Vec<(Kind, usize, Vec<u16>)> = Vec::new();
    for trouble in troubles {
        let (kind, status) = kind_and_status(*trouble);
        let at = match groups.iter().position(|(k, _, _)| *k == kind) {
            Some(at) => at,
            None => {
                groups.push((kind, 0, Vec::new()));
                groups.len() - 1
            }
        };
        let (_, count, statuses) = &mut groups[at];
        *count += 1;
        if let Some(status) = status.filter(|s| !statuses.contains(s)) {
            statuses.push(status);
        }
    }
    groups
}

/// ` (429 Too Many Requests, 503 Service Unavailable)`, or nothing.
fn statuses_words(statuses: &[u16]) -> String {
    if statuses.is_empty() {
        return String::new();
    }
    let words: Vec<String> = statuses.iter().map(|s| status_words(*s)).collect();
    format!(" ({})", words.join(", "))
}

/// What the provider kept doing, when every try went wrong the same way.
fn kept_doing(kind: Kind, statuses: &[u16]) -> String {
    let statuses = statuses_words(statuses);
    match kind {
        Kind::Busy => format!("kept refusing{statuses}"),
        Kind::Failing => format!("kept failing{statuses}"),
        Kind::BrokeOff => "kept breaking off its answers mid-stream".to_owned(),
        Kind::NoAnswer => "could not be reached".to_owned(),
    }
}

/// `count` tries that went this way, among others.
fn tries_that(kind: Kind, count: usize, statuses: &[u16]) -> String {
    let statuses = statuses_words(statuses);
    match kind {
        Kind::Busy => format!("{count} refused{statuses}"),
        Kind::Failing => format!("{count} failed{statuses}"),
        Kind::BrokeOff => format!("{count} broke off mid-stream"),
        Kind::NoAnswer => format!("{count} got no answer"),
    }
}

/// The reason a session failed when the model provider gave no answer in any of the
/// tries lucid made over `over`: `troubles` is how each try went wrong, in order;
/// `last` is what the provider said last (or what went wrong).
pub fn model_gave_no_answer(troubles: &[ProviderTrouble], over: Duration, last: &str) -> String {
    let attempts = troubles.len();
    let over = elapsed_words(over.as_secs());
    let last = last.trim();
    let said = match grouped(troubles).as_slice() {
        [(kind, _, statuses)] => {
            let mut said = format!(
                "the model provider {} for {attempts} attempts over {over}",
                kept_doing(*kind, statuses)
            );
            if !last.is_empty() {
                said.push_str(&format!(": {last}"));
            }
            said
        }
        groups => {
            let tries: Vec<String> = groups
                .iter()
                .map(|(kind, count, statuses)| tries_that(*kind, *count, statuses))
                .collect();
            let mut said = format!(
                "the model provider gave no answer in {attempts} attempts over {over}: {}",
                tries.join(", ")
            );
            if !last.is_empty() {
                said.push_str(&format!("; the last: {last}"));
            }
            said
        }
    };
    format!("{said}. lucid stopped trying; ask again later")
}

#[cfg(test)]
mod tests {
    use super::*;
    use ProviderTrouble::*;

    #[test]
    fn what_is_said_when_the_model_provider_gives_no_answer() {
        let secs = Duration::from_secs;
        let said = [
            model_gave_no_answer(&[Busy(429); 5], secs(37), "Rate limit reached"),
            model_gave_no_answer(&[Busy(529); 5], secs(12), "Overloaded"),
            model_gave_no_answer(
                &[Failing(500), Failing(502), Failing(503)],
                secs(4),
                "overloaded",
            ),
            model_gave_no_answer(
                &[BrokeOff; 5],
                secs(8),
                "the answer's stream ended before the answer did",
            ),
            model_gave_no_answer(&[NoAnswer; 2], secs(75), "could not connect"),
            model_gave_no_answer(
                &[Busy(429), Failing(503), Failing(502), BrokeOff, BrokeOff],
                secs(9),
                "the answer broke off",
            ),
            model_gave_no_answer(
                &[Failing(599), NoAnswer, Failing(599), NoAnswer],
                secs(3),
                "",
            ),
        ];
        insta::assert_snapshot!(said.join("\n"));
    }
}
