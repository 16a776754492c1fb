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
        Ok(crate::core::ThreadState { session, question })
    }
}
