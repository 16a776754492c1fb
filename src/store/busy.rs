//! The counts the limits on sessions per person and per place are decided from: read
//! from the sessions themselves, so every replica sees the same.
//!
//! They are read before the request's session is recorded, not in its transaction:
//! requests from one person (or place) decided at the same moment may each pass, so a
//! limit can be overrun by the requests in flight together, no more. Counting inside
//! the record's transaction would not close that on PostgreSQL either (two
//! transactions do not see each other's new sessions) without a lock per person.

use super::{Store, StoreError};
use crate::core::{Busy, Limits, Platform, Timestamp, limits::HOUR};

impl Store {
    /// How busy `author` (a person on `platform`) and `place` are, as of `now`.
    pub async fn busy(
        &self,
        platform: &Platform,
        author: &str,
        place: Option<&str>,
        limits: Limits,
        now: Timestamp,
    ) -> Result<Busy, StoreError> {
        let person_running = if limits.running_per_person > 0 {
            // The states not yet finished, as the partial index names them.
            sqlx::query_scalar::<_, i64>(
                "SELECT COUNT(*) FROM sessions WHERE platform = $1 AND author_id = $2 \
                 AND state IN ('queued', 'provisioning', 'running')",
            )
            .bind(platform.as_str())
            .bind(author)
            .fetch_one(self.pool())
            .await?
        } else {
            0
        };
        let place_running = match place {
            Some(place) if limits.running_per_place > 0 => {
                sqlx::query_scalar::<_, i64>(
                    "SELECT COUNT(*) FROM sessions WHERE platform = $1 AND place = $2 \
                     AND state IN ('queued', 'provisioning', 'running')",
                )
                .bind(platform.as_str())
                .bind(place)
                .fetch_one(self.pool())
                .await?
            }
            _ => 0,
        };
        let person_recent: Vec<i64> = if limits.new_per_person_hour > 0 {
            let since = now.as_millis() - HOUR.as_millis() as i64;
            sqlx::query_scalar(
                "SELECT created_at FROM sessions \
                 WHERE platform = $1 AND author_id = $2 AND created_at > $3 \
                 ORDER BY created_at DESC LIMIT $4",
            )
            .bind(platform.as_str())
            .bind(author)
            .bind(since)
            .bind(i64::from(limits.new_per_person_hour))
            .fetch_all(self.pool())
            .await?
        } else {
            Vec::new()
        };
        Ok(Busy {
            limits,
            now,
            person_running: u32::try_from(person_running).unwrap_or(u32::MAX),
            place_running: u32::try_from(place_running).unwrap_or(u32::MAX),
            person_recent: person_recent
                .into_iter()
                .map(Timestamp::from_millis)
                .collect(),
        })
    }
}
