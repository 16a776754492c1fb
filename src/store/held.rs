//! Requests held while the forge cannot answer whether their author may ask: kept
//! here when the platform is answered, tried again with backoff, and released once
//! decided. Their delivery is recorded only when they are decided (by the intake,
//! as for any request), so a held request is found here, not among deliveries.

use super::{Store, StoreError};
use crate::core::{DeliveryId, Platform, Timestamp};

/// A request waiting for the forge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeldRequest {
    pub platform: Platform,
    pub delivery: DeliveryId,
    /// The intent and the policy, as JSON (their shapes are the core's).
    pub intent: String,
    pub policy: String,
    pub forge: String,
    pub login: String,
    pub attempts: u32,
    pub created_at: Timestamp,
}

impl Store {
    /// Keeps `held`, first tried again at `next_at`. False when the delivery was
    /// seen before (held already, or decided): nothing changes.
    pub async fn hold_request(
        &self,
        held: &HeldRequest,
        next_at: Timestamp,
    ) -> Result<bool, StoreError> {
        let held = held.clone();
        self.write(async |conn| {
            let decided: Option<i64> = sqlx::query_scalar(
                "SELECT 1 FROM deliveries WHERE platform = $1 AND delivery_id = $2",
            )
            .bind(held.platform.as_str())
            .bind(held.delivery.as_str())
            .fetch_optional(&mut *conn)
            .await?;
            if decided.is_some() {
                return Ok(false);
            }
            let inserted = sqlx::query(
                "INSERT INTO held_requests (platform, delivery_id, intent, policy, forge, login, \
                 attempts, next_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, 0, $7, $8) \
                 ON CONFLICT (platform, delivery_id) DO NOTHING",
            )
            .bind(held.platform.as_str())
            .bind(held.delivery.as_str())
            .bind(&held.intent)
            .bind(&held.policy)
            .bind(&held.forge)
            .bind(&held.login)
            .bind(next_at.as_millis())
            .bind(held.created_at.as_millis())
            .execute(&mut *conn)
            .await?
            .rows_affected();
            Ok(inserted == 1)
        })
        .await
    }

    /// Whether the delivery is held.
    pub async fn is_held(
        &self,
        platform: &Platform,
        delivery: &DeliveryId,
    ) -> Result<bool, StoreError> {
        let found: Option<i64> = sqlx::query_scalar(
            "SELECT 1 FROM held_requests WHERE platform = $1 AND delivery_id = $2",
        )
        .bind(platform.as_str())
        .bind(delivery.as_str())
        .fetch_optional(self.pool())
        .await?;
        Ok(found.is_some())
    }

    /// Held requests due by `now`, at most `limit`, each claimed for `lease` (moved
    /// on, so that no other replica tries it meanwhile); oldest first.
    pub async fn claim_held(
        &self,
        now: Timestamp,
        lease: std::time::Duration,
        limit: u32,
    ) -> Result<Vec<HeldRequest>, StoreError> {
        type Row = (
            String,
            String,
            String,
            String,
            String,
            String,
            i64,
            i64,
            i64,
        );
        let due: Vec<Row> = sqlx::query_as(
            "SELECT platform, delivery_id, intent, policy, forge, login, attempts, next_at, \
             created_at FROM held_requests WHERE next_at <= $1 ORDER BY created_at LIMIT $2",
        )
        .bind(now.as_millis())
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        let mut claimed = Vec::new();
        for (platform, delivery, intent, policy, forge, login, attempts, next_at, created) in due {
            let moved = self
                .write_one(
                    sqlx::query(
                        "UPDATE held_requests SET next_at = $1 \
                         WHERE platform = $2 AND delivery_id = $3 AND next_at = $4",
                    )
                    .bind(now.plus(lease).as_millis())
                    .bind(platform.clone())
                    .bind(delivery.clone())
                    .bind(next_at),
                )
                .await?;
            if moved == 0 {
                continue;
            }
            let corrupt = |e: crate::core::InvalidId| StoreError::Corrupt(e.to_string());
            claimed.push(HeldRequest {
                platform: Platform::parse(&platform).map_err(corrupt)?,
                delivery: DeliveryId::parse(&delivery).map_err(corrupt)?,
                intent,
                policy,
                forge,
                login,
                attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
                created_at: Timestamp::from_millis(created),
            });
        }
        Ok(claimed)
    }

    /// `held` could not be decided yet: tried again at `next_at`, `why` kept.
    pub async fn defer_held(
        &self,
        held: &HeldRequest,
        next_at: Timestamp,
        why: &str,
    ) -> Result<(), StoreError> {
        self.write_one(
            sqlx::query(
                "UPDATE held_requests SET attempts = attempts + 1, next_at = $1, last_error = $2 \
                 WHERE platform = $3 AND delivery_id = $4",
            )
            .bind(next_at.as_millis())
            .bind(why.to_owned())
            .bind(held.platform.as_str().to_owned())
            .bind(held.delivery.as_str().to_owned()),
        )
        .await
        .map(|_| ())
    }

    /// `held` was decided (or given up): it is held no more.
    pub async fn release_held(&self, held: &HeldRequest) -> Result<(), StoreError> {
        self.write_one(
            sqlx::query("DELETE FROM held_requests WHERE platform = $1 AND delivery_id = $2")
                .bind(held.platform.as_str().to_owned())
                .bind(held.delivery.as_str().to_owned()),
        )
        .await
        .map(|_| ())
    }
}
