//! How a session's thread is tried again while its platform does not take writes
//! (its API down, answering 5xx, refusing connections): a wait that doubles from
//! [`FIRST`] up to [`CAP`], so an outage of minutes costs a handful of requests a
//! minute per session, and the thread is caught up from the event log within [`CAP`]
//! of the platform coming back.

use std::time::Duration;
use tokio::time::Instant;

/// The wait after the first failed write.
pub const FIRST: Duration = Duration::from_secs(1);
/// No wait is longer than this.
pub const CAP: Duration = Duration::from_secs(15);
/// How long the last write of a finished run is tried before it is given up (logged).
pub const FINAL_PATIENCE: Duration = Duration::from_secs(60 * 60);
/// One write of the thread that takes longer than this is treated as failed: a
/// platform that takes connections and never answers must not stall the thread for
/// good. Long enough for a burst of 429s that each ask for a few seconds.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(120);

/// Failed writes in a row, and when the next try is due.
#[derive(Debug, Default)]
pub struct Backoff {
    failures: u32,
    next: Option<Instant>,
}

impl Backoff {
    /// The wait after `failures` failed writes in a row (at least one).
    pub fn wait(failures: u32) -> Duration {
        FIRST
            .saturating_mul(2u32.saturating_pow(failures.saturating_sub(1).min(16)))
            .min(CAP)
    }

    /// A write failed: the next is due after the wait.
    pub fn failed(&mut self) -> Duration {
        self.failures += 1;
        let wait = Self::wait(self.failures);
        self.next = Some(Instant::now() + wait);
        wait
    }

    /// A write went through.
    pub fn succeeded(&mut self) {
        *self = Backoff::default();
    }

    /// When the next try is due, while writes fail.
    pub fn due(&self) -> Option<Instant> {
        self.next
    }

    pub fn failures(&self) -> u32 {
        self.failures
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_doubles_up_to_the_cap_and_starts_over_after_a_success() {
        let waits: Vec<u64> = (1..=7).map(|n| Backoff::wait(n).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 15, 15, 15]);
        assert_eq!(Backoff::wait(u32::MAX), CAP);
        let mut backoff = Backoff::default();
        assert_eq!(backoff.failed(), FIRST);
        assert_eq!(backoff.failed(), FIRST * 2);
        assert!(backoff.due().is_some());
        backoff.succeeded();
        assert_eq!((backoff.failures(), backoff.due()), (0, None));
        assert_eq!(backoff.failed(), FIRST);
    }
}
