//! Which session a conversation belongs to.

use super::{Store, StoreError};
use crate::core::{SessionId, ThreadRef};

impl Store {
    /// The newest session started in `thread`, if any, so a follow-up finds it.
    pub async fn session_for_thread(
        &self,
        thread: &ThreadRef,
    ) -> Result<Option<SessionId>, StoreError> {
        let id: Option<String> = sqlx::query_scalar(
            "SELECT session_id FROM threads WHERE platform = $1 AND thread_key = $2",
        )
        .bind(thread.platform().as_str())
        .bind(thread.key())
        .fetch_optional(self.pool())
        .await?;
        id.map(|id| {
            id.parse()
                .map_err(|e: crate::core::InvalidId| StoreError::Corrupt(e.to_string()))
        })
        .transpose()
    }
}

impl Store {
    /// What a thread holds, in one read: its session and that session's state, or a
    /// request waiting there for its repository.
    pub async fn thread_state(
        &self,
        thread: &ThreadRef,
    ) -> Result<crate::core::ThreadState, StoreError> {
        let row: Option<(Option<String>, Option<String>, Option<String>)> = sqlx::query_as(
            "SELECT t.session_id, s.state, q.trigger \
             FROM (SELECT $1 AS platform, $2 AS thread_key) AS x \
             LEFT JOIN threads t ON t.platform = x.platform AND t.thread_key = x.thread_key \
             LEFT JOIN sessions s ON s.id = t.session_id \
             LEFT JOIN questions q ON q.platform = x.platform AND q.thread_key = x.thread_key",
        )
        .bind(thread.platform().as_str())
        .bind(thread.key())
        .fetch_optional(self.pool())
        .await?;
        let corrupt = |e: &dyn std::fmt::Display| StoreError::Corrupt(e.to_string());
        let Some((session, state, question)) = row else {
            return Ok(Default::default());
        };
        let session = match (session, state) {
            (Some(id), Some(state)) => Some((
                id.parse::<SessionId>().map_err(|e| corrupt(&e))?,
                crate::core::SessionState::parse(&state).map_err(|e| corrupt(&e))?,
            )),
            _ => None,
        };
        // A thread with a session has no question to answer any more.
        let question = match (&session, question) {
            (None, Some(json)) => Some(serde_json::from_str(&json).map_err(|e| corrupt(&e))?),
            _ => None,
        };
        Ok(crate::core::ThreadState {
            session,
            question,
            busy: None,
        })
    }
}

/// [`Store::move_thread`] on SQLite, one trip to the writer: `$1` the new thread as
/// JSON, `$2` now, `$3` the platform, `$4` the old key, `$5` the new key. A question's
/// trigger takes the new thread inside its JSON.
const SQLITE_MOVE: &str = "BEGIN IMMEDIATE;
UPDATE sessions SET thread = $1, updated_at = $2
    WHERE id = (SELECT session_id FROM threads WHERE platform = $3 AND thread_key = $4);
INSERT INTO threads (platform, thread_key, session_id, updated_at)
    SELECT platform, $5, session_id, $2 FROM threads WHERE platform = $3 AND thread_key = $4
    ON CONFLICT (platform, thread_key)
    DO UPDATE SET session_id = excluded.session_id, updated_at = excluded.updated_at;
INSERT INTO questions (platform, thread_key, trigger, created_at)
    SELECT platform, $5, json_set(trigger, '$.thread', json($1)), $2
    FROM questions WHERE platform = $3 AND thread_key = $4
    ON CONFLICT (platform, thread_key)
    DO UPDATE SET trigger = excluded.trigger, created_at = excluded.created_at;
DELETE FROM questions WHERE platform = $3 AND thread_key = $4;
COMMIT;";

impl Store {
    /// Moves what `from` holds (its session, or its open question) to `to`: a
    /// platform that learns the conversation's real place only after the request was
    /// recorded (Discord's `/lucid` gets its thread once the answer is posted). Both
    /// keys lead to the session afterwards.
    ///
    /// On SQLite it is one batch: the move comes from the platform's background work,
    /// and a transaction of several trips would hold the one writer, which answers
    /// wait for, across as many wake-ups of a low-priority thread.
    pub async fn move_thread(&self, from: &ThreadRef, to: &ThreadRef) -> Result<(), StoreError> {
        let now = crate::core::Timestamp::now().as_millis();
        let thread_json =
            serde_json::to_string(to).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let (platform, old_key, new_key) = (from.platform(), from.key(), to.key());
        if self.backend() == super::Backend::Sqlite {
            let batch = sqlx::query(SQLITE_MOVE)
                .bind(thread_json)
                .bind(now)
                .bind(platform.as_str().to_owned())
                .bind(old_key)
                .bind(new_key);
            return self.write_batch(batch).await;
        }
        let to = to.clone();
        self.write(async |conn| {
            let session: Option<String> = sqlx::query_scalar(
                "SELECT session_id FROM threads WHERE platform = $1 AND thread_key = $2",
            )
            .bind(platform.as_str())
            .bind(&old_key)
            .fetch_optional(&mut *conn)
            .await?;
            if let Some(session) = session {
                sqlx::query("UPDATE sessions SET thread = $1, updated_at = $2 WHERE id = $3")
                    .bind(&thread_json)
                    .bind(now)
                    .bind(&session)
                    .execute(&mut *conn)
                    .await?;
                sqlx::query(
                    "INSERT INTO threads (platform, thread_key, session_id, updated_at) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (platform, thread_key) \
                     DO UPDATE SET session_id = excluded.session_id, updated_at = excluded.updated_at",
                )
                .bind(platform.as_str())
                .bind(&new_key)
                .bind(&session)
                .bind(now)
                .execute(&mut *conn)
                .await?;
            }
            let question: Option<String> = sqlx::query_scalar(
                "SELECT trigger FROM questions WHERE platform = $1 AND thread_key = $2",
            )
            .bind(platform.as_str())
            .bind(&old_key)
            .fetch_optional(&mut *conn)
            .await?;
            if let Some(json) = question {
                let mut trigger: crate::core::Trigger = serde_json::from_str(&json)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                trigger.thread = to.clone();
                let json = serde_json::to_string(&trigger)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                sqlx::query("DELETE FROM questions WHERE platform = $1 AND thread_key = $2")
                    .bind(platform.as_str())
                    .bind(&old_key)
                    .execute(&mut *conn)
                    .await?;
                sqlx::query(
                    "INSERT INTO questions (platform, thread_key, trigger, created_at) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (platform, thread_key) \
                     DO UPDATE SET trigger = excluded.trigger, created_at = excluded.created_at",
                )
                .bind(platform.as_str())
                .bind(&new_key)
                .bind(&json)
                .bind(now)
                .execute(&mut *conn)
                .await?;
            }
            Ok(())
        })
        .await
    }

    /// The newest delivery of `platform`, for a platform whose delivery ids are
    /// numbers that grow with time (Discord's snowflakes): where to read messages
    /// missed while lucid was away from. A longer number is a larger one.
    pub async fn newest_numeric_delivery(
        &self,
        platform: &crate::core::Platform,
    ) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT delivery_id FROM deliveries WHERE platform = $1 \
             ORDER BY length(delivery_id) DESC, delivery_id DESC LIMIT 1",
        )
        .bind(platform.as_str())
        .fetch_optional(self.pool())
        .await?)
    }
}
