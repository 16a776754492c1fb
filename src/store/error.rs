use crate::core::{IllegalTransition, SessionId};
use crate::store::crypto::OpenError;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("session {0} not found")]
    SessionNotFound(SessionId),
    #[error(transparent)]
    IllegalTransition(#[from] IllegalTransition),
    #[error("session {0} is leased by another worker")]
    LeaseLost(SessionId),
    #[error(transparent)]
    Credential(#[from] OpenError),
    #[error("stored data is unreadable: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}
