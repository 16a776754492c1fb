//! Share links' tokens, kept as hashes: which session a token opens and whether it
//! was revoked. The tokens themselves are never stored.

use super::{Store, StoreError};
use crate::core::{SessionId, Timestamp};
use sqlx::Row;

/// What the store knows of a share token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShareRecord {
    /// Never made through the store nor revoked: only a derived link can be valid.
    Unknown,
    /// Opens this session.
    Opens(SessionId),
    Revoked,
}

impl Store {
    /// Keeps a new share token's hash for `session`.
    pub async fn add_share(&self, session: SessionId, token_hash: &str) -> Result<(), StoreError> {
        let statement = sqlx::query(
            "INSERT INTO shares (token_hash, session_id, created_at) VALUES ($1, $2, $3)",
        )
        .bind(token_hash.to_owned())
        .bind(session.to_string())
        .bind(Timestamp::now().as_millis());
        self.write_one(statement).await.map(|_| ())
    }

    pub async fn share(&self, token_hash: &str) -> Result<ShareRecord, StoreError> {
        let row = sqlx::query("SELECT session_id, revoked_at FROM shares WHERE token_hash = $1")
            .bind(token_hash)
            .fetch_optional(self.pool())
            .await?;
        let Some(row) = row else {
            return Ok(ShareRecord::Unknown);
        };
        if row.try_get::<Option<i64>, _>("revoked_at")?.is_some() {
            return Ok(ShareRecord::Revoked);
        }
        let session: String = row.try_get("session_id")?;
        session
            .parse()
            .map(ShareRecord::Opens)
            .map_err(|e: crate::core::InvalidId| StoreError::Corrupt(e.to_string()))
    }

    /// Revokes every share link of `session`: those made through the store, and the
    /// derived one lucid posts (`derived_hash`), which gets its row here.
    pub async fn revoke_shares(
        &self,
        session: SessionId,
        derived_hash: Option<&str>,
    ) -> Result<(), StoreError> {
        let now = Timestamp::now().as_millis();
        let id = session.to_string();
        let derived = derived_hash.map(str::to_owned);
        self.write(async |conn| {
            sqlx::query(
                "UPDATE shares SET revoked_at = $1 WHERE session_id = $2 AND revoked_at IS NULL",
            )
            .bind(now)
            .bind(&id)
            .execute(&mut *conn)
            .await?;
            if let Some(hash) = &derived {
                sqlx::query(
                    "INSERT INTO shares (token_hash, session_id, created_at, revoked_at) \
                     VALUES ($1, $2, $3, $3) ON CONFLICT (token_hash) DO NOTHING",
                )
                .bind(hash)
                .bind(&id)
                .bind(now)
                .execute(&mut *conn)
                .await?;
            }
            Ok(())
        })
        .await
    }
}
