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
    /// The database did not answer a moment ago and has not since: not tried again.
    #[error("the database is unavailable; try again shortly")]
    Unavailable,
}

impl StoreError {
    /// Whether the database could not be reached or written at all (down, cut off,
    /// out of connections, or its write lock held elsewhere), as opposed to refusing
    /// what was asked: the same request may well succeed in a moment.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Unavailable => true,
            StoreError::Database(e) => shows_outage(e) || busy(e),
            _ => false,
        }
    }

    /// Whether the database is away for everyone, not merely busy: the connection
    /// broke or was refused, the server is shutting down or starting up, or (SQLite)
    /// another process holds the write lock past the writer's wait. A request that
    /// waited too long for one of lucid's own connections says nothing of the kind:
    /// that is load.
    pub fn shows_outage(&self) -> bool {
        matches!(self, StoreError::Database(e) if shows_outage(e))
    }
}

/// The database away: see [`StoreError::shows_outage`].
pub(super) fn shows_outage(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::BeginFailed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| outage_code(&code)),
        _ => false,
    }
}

/// The database busy: no connection of lucid's came free in time, or the server
/// has too many (53300).
fn busy(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| code == "53300"),
        _ => false,
    }
}

/// PostgreSQL's connection exceptions (class 08) and shutdowns (57P01-03): a
/// SQLSTATE is always five characters. Else SQLite's busy and locked results
/// (primary codes 5 and 6, with their extended codes, at most four digits): lucid
/// holds SQLite's write lock only briefly, so past the writer's wait another
/// process has it.
fn outage_code(code: &str) -> bool {
    if code.len() == 5 {
        return code.starts_with("08") || code.starts_with("57P");
    }
    code.parse::<i64>()
        .is_ok_and(|sqlite| matches!(sqlite & 0xff, 5 | 6))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_locked_and_connection_failures_are_outages_and_nothing_else_is() {
        for code in [
            "5", "6", "517", "261", "262", "08006", "08001", "57P01", "57P03",
        ] {
            assert!(outage_code(code), "{code}");
        }
        // Too many connections (load), a constraint (SQLite 19, 2067; PostgreSQL
        // 23505), a syntax error, a serialization failure.
        for code in ["53300", "19", "2067", "23505", "42601", "40001"] {
            assert!(!outage_code(code), "{code}");
        }
        let timed_out = StoreError::Database(sqlx::Error::PoolTimedOut);
        assert!(timed_out.is_unavailable() && !timed_out.shows_outage());
        let cut = StoreError::Database(sqlx::Error::Io(std::io::ErrorKind::ConnectionReset.into()));
        assert!(cut.is_unavailable() && cut.shows_outage());
        assert!(StoreError::Unavailable.is_unavailable());
        assert!(!StoreError::Database(sqlx::Error::RowNotFound).is_unavailable());
        assert!(!StoreError::Corrupt("x".into()).is_unavailable());
    }
}
