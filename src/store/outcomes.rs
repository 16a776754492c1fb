//! How the sessions in the store ended, by platform, for `/metrics`: read at scrape
//! time, so every replica reports the same totals and a restart loses none.

use super::{Store, StoreError};
use crate::core::SessionState;
use sqlx::Row;

impl Store {
    /// Finished sessions by platform (its name) and final state (resumed sessions count once,
    /// by how they last ended; deleted ones not at all).
    pub async fn count_ended_by_platform(
        &self,
    ) -> Result<Vec<(String, SessionState, u64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT platform, state, COUNT(*) AS n FROM sessions \
             WHERE state IN ('completed', 'failed', 'cancelled') \
             GROUP BY platform, state",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                let platform: String = row.try_get("platform")?;
                let state: String = row.try_get("state")?;
                let n: i64 = row.try_get("n")?;
                let state =
                    SessionState::parse(&state).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                Ok((platform, state, u64::try_from(n).unwrap_or(0)))
            })
            .collect()
    }
}
