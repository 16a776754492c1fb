//! Retrying a provider that is busy (429) or failing (5xx, network): backoff that
//! doubles, and the provider's own `Retry-After` when it gives one.

use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Tries in all, the first one included.
    pub attempts: u32,
    pub first_delay: Duration,
    /// No wait is longer than this, whatever `Retry-After` says.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 5,
            first_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// How long to wait before try number `attempt + 1` (the first retry is after
    /// attempt 1), given the provider's `Retry-After` value if any.
    pub fn delay(&self, attempt: u32, retry_after: Option<&str>) -> Duration {
        let asked = retry_after
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(Duration::from_secs_f64);
        let backoff = self
            .first_delay
            .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)));
        asked.unwrap_or(backoff).min(self.max_delay)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_retry_after_wins_within_the_cap() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.delay(1, None), Duration::from_millis(500));
        assert_eq!(policy.delay(3, None), Duration::from_secs(2));
        assert_eq!(policy.delay(1, Some("7")), Duration::from_secs(7));
        assert_eq!(policy.delay(1, Some("0.25")), Duration::from_millis(250));
        assert_eq!(policy.delay(1, Some("3600")), Duration::from_secs(60));
        assert_eq!(policy.delay(2, Some("soon")), Duration::from_secs(1));
    }
}
