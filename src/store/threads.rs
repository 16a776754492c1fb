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
