//! What a platform delivered and lucid acknowledged before acting on it (a Notion
//! event names a page but carries none of its values: the page is read after the
//! answer), and where a platform's reading left off (a database's last poll). Both
//! outlive a crash: an acknowledged event is acted on by whichever lucid comes next.

use super::rows::{session_columns, session_from_row};
use super::{Store, StoreError};
use crate::core::{Platform, Session, SessionState, Timestamp};
use sqlx::Row;

/// How long an event is remembered after it was acted on, so a redelivery within
/// that time is known (Notion retries for about a day).
const REMEMBER_DONE_MILLIS: i64 = 3 * 24 * 3_600_000;

/// An event waiting to be acted on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Inboxed {
    pub delivery: String,
    /// What the event is about (a page's id), read again to act on it.
    pub subject: String,
    pub kind: String,
    pub received_at: Timestamp,
}

impl Store {
    /// Keeps an event to act on after the answer; false when it was kept before (a
    /// redelivery).
    pub async fn put_in_inbox(
        &self,
        platform: &Platform,
        delivery: &str,
        subject: &str,
        kind: &str,
    ) -> Result<bool, StoreError> {
        let statement = sqlx::query(
            "INSERT INTO inbox (platform, delivery_id, subject, kind, received_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (platform, delivery_id) DO NOTHING",
        )
        .bind(platform.as_str().to_owned())
        .bind(delivery.to_owned())
        .bind(subject.to_owned())
        .bind(kind.to_owned())
        .bind(Timestamp::now().as_millis());
        Ok(self.write_one(statement).await? == 1)
    }

    /// The oldest events not yet acted on, at most `limit`.
    pub async fn inbox(&self, platform: &Platform, limit: u32) -> Result<Vec<Inboxed>, StoreError> {
        let rows = sqlx::query(
            "SELECT delivery_id, subject, kind, received_at FROM inbox \
             WHERE platform = $1 AND done_at IS NULL ORDER BY received_at, delivery_id LIMIT $2",
        )
        .bind(platform.as_str())
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(Inboxed {
                    delivery: row.try_get("delivery_id")?,
                    subject: row.try_get("subject")?,
                    kind: row.try_get("kind")?,
                    received_at: Timestamp::from_millis(row.try_get("received_at")?),
                })
            })
            .collect()
    }

    /// Marks events acted on, and forgets those acted on long ago.
    pub async fn inbox_done(
        &self,
        platform: &Platform,
        deliveries: &[String],
    ) -> Result<(), StoreError> {
        let now = Timestamp::now().as_millis();
        let platform = platform.as_str();
        self.write(async |conn| {
            for delivery in deliveries {
                sqlx::query(
                    "UPDATE inbox SET done_at = $3 WHERE platform = $1 AND delivery_id = $2",
                )
                .bind(platform)
                .bind(delivery.as_str())
                .bind(now)
                .execute(&mut *conn)
                .await?;
            }
            sqlx::query("DELETE FROM inbox WHERE platform = $1 AND done_at < $2")
                .bind(platform)
                .bind(now - REMEMBER_DONE_MILLIS)
                .execute(&mut *conn)
                .await?;
            Ok(())
        })
        .await
    }

    /// Marks acted on every waiting event of `kind` about `subject` received by
    /// `received_by` (the subject was read after them, so they are all seen).
    pub async fn inbox_done_about(
        &self,
        platform: &Platform,
        kind: &str,
        subject: &str,
        received_by: Timestamp,
    ) -> Result<u64, StoreError> {
        let statement = sqlx::query(
            "UPDATE inbox SET done_at = $5 WHERE platform = $1 AND subject = $3 AND kind = $2 \
             AND done_at IS NULL AND received_at <= $4",
        )
        .bind(platform.as_str().to_owned())
        .bind(kind.to_owned())
        .bind(subject.to_owned())
        .bind(received_by.as_millis())
        .bind(Timestamp::now().as_millis());
        self.write_one(statement).await
    }

    /// Where `platform`'s reading called `name` left off.
    pub async fn mark(
        &self,
        platform: &Platform,
        name: &str,
    ) -> Result<Option<String>, StoreError> {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT value FROM marks WHERE platform = $1 AND name = $2")
                .bind(platform.as_str())
                .bind(name)
                .fetch_optional(self.pool())
                .await?;
        Ok(row.map(|(value,)| value))
    }

    pub async fn set_mark(
        &self,
        platform: &Platform,
        name: &str,
        value: &str,
    ) -> Result<(), StoreError> {
        let statement = sqlx::query(
            "INSERT INTO marks (platform, name, value, updated_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (platform, name) DO UPDATE SET value = excluded.value, \
             updated_at = excluded.updated_at",
        )
        .bind(platform.as_str().to_owned())
        .bind(name.to_owned())
        .bind(value.to_owned())
        .bind(Timestamp::now().as_millis());
        self.write_one(statement).await.map(drop)
    }

    /// `platform`'s sessions that are live, or ended after `since`: the ones whose
    /// threads may still say something to lucid. Newest first, at most `limit`.
    pub async fn recent_sessions(
        &self,
        platform: &Platform,
        since: Timestamp,
        limit: u32,
    ) -> Result<Vec<Session>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            session_columns!(),
            " FROM sessions WHERE platform = $1 AND (state IN ($2, $3, $4) OR updated_at > $5) \
             ORDER BY id DESC LIMIT $6"
        ))
        .bind(platform.as_str())
        .bind(SessionState::Queued.as_str())
        .bind(SessionState::Provisioning.as_str())
        .bind(SessionState::Running.as_str())
        .bind(since.as_millis())
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(session_from_row).collect()
    }
}
