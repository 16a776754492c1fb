//! The histograms' buckets, in seconds, chosen around what each one is judged by.

use prometheus_client::metrics::histogram::Histogram;

/// Slack and Discord want an answer within 3 s, GitHub within 10 s: both are bucket
/// edges, so the share of answers past a platform's deadline is read off exactly.
pub const WEBHOOK_ANSWER: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0,
];

/// A person waits for the acknowledgement: a second or two when it is the status
/// message, longer where it comes with the worker (after a queue, a sandbox).
pub const FIRST_MESSAGE: [f64; 12] = [
    0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0,
];

/// From a one-line fix to an afternoon's work.
pub const SESSION_DURATION: [f64; 12] = [
    5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0, 7200.0, 14400.0,
];

/// A warm sandbox is a rename (milliseconds); a cold one starts a container (seconds,
/// more when its image is pulled first).
pub const SANDBOX_START: [f64; 12] = [
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 120.0,
];

pub fn webhook_answer() -> Histogram {
    Histogram::new(WEBHOOK_ANSWER)
}

pub fn first_message() -> Histogram {
    Histogram::new(FIRST_MESSAGE)
}

pub fn session_duration() -> Histogram {
    Histogram::new(SESSION_DURATION)
}

pub fn sandbox_start() -> Histogram {
    Histogram::new(SANDBOX_START)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_rise_and_hold_the_edges_they_are_judged_by() {
        for buckets in [
            WEBHOOK_ANSWER,
            FIRST_MESSAGE,
            SESSION_DURATION,
            SANDBOX_START,
        ] {
            assert!(buckets.windows(2).all(|w| w[0] < w[1]), "{buckets:?}");
        }
        // The platforms' deadlines for an answer.
        assert!(WEBHOOK_ANSWER.contains(&3.0) && WEBHOOK_ANSWER.contains(&10.0));
        // A warm start is told from a cold one below a second.
        assert!(SANDBOX_START.iter().filter(|b| **b < 1.0).count() >= 5);
    }
}
