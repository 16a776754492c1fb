//! Slack allows about one message per second per channel, shared by every session
//! posting there. The pacer hands out turns per channel, one `interval` apart; a 429
//! pushes the channel's next turn past its `Retry-After` for everyone.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

pub struct ChannelPacer {
    interval: Duration,
    next_turn: Mutex<HashMap<String, Instant>>,
}

impl ChannelPacer {
    pub fn new(interval: Duration) -> Self {
        Self {
            interval,
            next_turn: Mutex::new(HashMap::new()),
        }
    }

    /// Waits for the channel's next free turn and takes it.
    pub async fn turn(&self, channel: &str) {
        let at = {
            let mut next = self.next_turn.lock().unwrap();
            let now = Instant::now();
            // Forget channels idle for a while, so the map does not grow forever.
            if next.len() > 10_000 {
                next.retain(|_, at| *at > now);
            }
            let slot = next.get(channel).copied().unwrap_or(now).max(now);
            next.insert(channel.to_owned(), slot + self.interval);
            slot
        };
        tokio::time::sleep_until(at).await;
    }

    /// Slack said to wait: nobody posts in the channel before `until`.
    pub fn hold(&self, channel: &str, until: Instant) {
        let mut next = self.next_turn.lock().unwrap();
        let slot = next.entry(channel.to_owned()).or_insert(until);
        *slot = (*slot).max(until);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn turns_in_one_channel_are_an_interval_apart_and_other_channels_do_not_wait() {
        let pacer = ChannelPacer::new(Duration::from_secs(1));
        let start = Instant::now();
        pacer.turn("C1").await;
        pacer.turn("C2").await;
        assert_eq!(start.elapsed(), Duration::ZERO);
        pacer.turn("C1").await;
        assert_eq!(start.elapsed(), Duration::from_secs(1));
        pacer.hold("C1", Instant::now() + Duration::from_secs(5));
        pacer.turn("C1").await;
        assert_eq!(start.elapsed(), Duration::from_secs(6));
        pacer.turn("C2").await;
        assert_eq!(start.elapsed(), Duration::from_secs(6));
    }
}
