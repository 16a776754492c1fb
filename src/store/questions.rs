//! Requests waiting on an answer before their session can start (a Slack mention that
//! named no repository): the request is kept with the delivery that asked, in one
//! transaction, so a retried delivery asks once and a restart forgets nothing.

use super::{Delivered, Store, StoreError};
use crate::core::{DeliveryId, ThreadRef, Timestamp, Trigger};

impl Store {
    /// Records `delivery` and keeps `trigger` (its question open in its thread).
    /// `Duplicate` when the delivery was seen before: nothing changes.
    pub async fn record_question(
        &self,
        delivery: &DeliveryId,
        trigger: &Trigger,
    ) -> Result<Delivered, StoreError> {
        let now = Timestamp::now().as_millis();
        let platform = trigger.platform();
        let json =
            serde_json::to_string(trigger).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let key = trigger.thread.key();
        self.write(async |conn| {
            let inserted = sqlx::query(
                "INSERT INTO deliveries (platform, delivery_id, session_id, received_at) \
                 VALUES ($1, $2, NULL, $3) ON CONFLICT (platform, delivery_id) DO NOTHING",
            )
            .bind(platform.as_str())
            .bind(delivery.as_str())
            .bind(now)
            .execute(&mut *conn)
            .await?
            .rows_affected();
            if inserted == 0 {
                return Ok(Delivered::Duplicate);
            }
            sqlx::query(
                "INSERT INTO questions (platform, thread_key, trigger, created_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (platform, thread_key) \
                 DO UPDATE SET trigger = excluded.trigger, created_at = excluded.created_at",
            )
            .bind(platform.as_str())
            .bind(&key)
            .bind(&json)
            .bind(now)
            .execute(&mut *conn)
            .await?;
            Ok(Delivered::New { resumed: false })
        })
        .await
    }

    /// The request waiting for an answer in `thread`, if any.
    pub async fn open_question(&self, thread: &ThreadRef) -> Result<Option<Trigger>, StoreError> {
        let json: Option<String> = sqlx::query_scalar(
            "SELECT trigger FROM questions WHERE platform = $1 AND thread_key = $2",
        )
        .bind(thread.platform().as_str())
        .bind(thread.key())
        .fetch_optional(self.pool())
        .await?;
        json.map(|j| serde_json::from_str(&j).map_err(|e| StoreError::Corrupt(e.to_string())))
            .transpose()
    }

    /// The question in `thread` was answered (its session recorded).
    pub async fn close_question(&self, thread: &ThreadRef) -> Result<(), StoreError> {
        let platform = thread.platform();
        let key = thread.key();
        self.write(async |conn| {
            sqlx::query("DELETE FROM questions WHERE platform = $1 AND thread_key = $2")
                .bind(platform.as_str())
                .bind(&key)
                .execute(&mut *conn)
                .await?;
            Ok(())
        })
        .await
    }
}
