//! What lives beside a session's event log: the agent's conversation with the model
//! (kept so a follow-up can resume a finished session) and the ids of the messages
//! lucid edits in place in a thread.

use super::{Store, StoreError};
use crate::core::{SessionId, Timestamp};

impl Store {
    /// Replaces the session's saved conversation (JSON, the agent's own format).
    pub async fn save_conversation(
        &self,
        session: SessionId,
        messages: &str,
    ) -> Result<(), StoreError> {
        let now = Timestamp::now().as_millis();
        self.write(async |conn| {
            sqlx::query(
                "INSERT INTO conversations (session_id, messages, updated_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (session_id) DO UPDATE SET messages = $2, updated_at = $3",
            )
            .bind(session.to_string())
            .bind(messages)
            .bind(now)
            .execute(&mut *conn)
            .await?;
            Ok(())
        })
        .await
    }

    pub async fn conversation(&self, session: SessionId) -> Result<Option<String>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT messages FROM conversations WHERE session_id = $1")
                .bind(session.to_string())
                .fetch_optional(self.pool())
                .await?,
        )
    }

    /// Remembers which platform message serves `purpose` (e.g. "progress") for a session.
    pub async fn set_thread_message(
        &self,
        session: SessionId,
        purpose: &str,
        message_id: &str,
    ) -> Result<(), StoreError> {
        let now = Timestamp::now().as_millis();
        let upsert = sqlx::query(
            "INSERT INTO thread_messages (session_id, purpose, message_id, updated_at) \
             VALUES ($1, $2, $3, $4) \
             ON CONFLICT (session_id, purpose) DO UPDATE SET message_id = $3, updated_at = $4",
        )
        .bind(session.to_string())
        .bind(purpose.to_owned())
        .bind(message_id.to_owned())
        .bind(now);
        self.write_one(upsert).await?;
        Ok(())
    }

    pub async fn thread_message(
        &self,
        session: SessionId,
        purpose: &str,
    ) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT message_id FROM thread_messages WHERE session_id = $1 AND purpose = $2",
        )
        .bind(session.to_string())
        .bind(purpose)
        .fetch_optional(self.pool())
        .await?)
    }

    /// Points `thread` at `session` too (a pull request lucid opened for an issue's
    /// session), so that comments there reach the same session.
    pub async fn link_thread(
        &self,
        thread: &crate::core::ThreadRef,
        session: SessionId,
    ) -> Result<(), StoreError> {
        let now = Timestamp::now().as_millis();
        self.write(async |conn| {
            sqlx::query(
                "INSERT INTO threads (platform, thread_key, session_id, updated_at) \
                 VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (platform, thread_key) DO UPDATE SET session_id = $3, updated_at = $4",
            )
            .bind(thread.platform().as_str())
            .bind(thread.key())
            .bind(session.to_string())
            .bind(now)
            .execute(&mut *conn)
            .await?;
            Ok(())
        })
        .await
    }
}
