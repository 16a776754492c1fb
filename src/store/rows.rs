//! Turning rows back into domain values. A row that does not parse is reported as
//! corrupt data, never papered over.

use super::StoreError;
use crate::core::DeliveryId;
use crate::core::{
    Author, Event, EventBody, Lease, RepoRef, Session, SessionId, SessionState, ThreadRef,
    Timestamp, Trigger, Usage,
};
use sqlx::Row;
use sqlx::any::AnyRow;

/// The columns `session_from_row` reads, in every query that returns sessions.
macro_rules! session_columns {
    () => {
        "id, thread, author, task, title, repo, delivery_id, state, reason, branch, pr_url, \
         tokens_in, tokens_out, cost_micros, lease_owner, lease_expires_at, created_at, updated_at, \
         agent, model"
    };
}
pub(super) use session_columns;

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

fn unsigned(row: &AnyRow, column: &str) -> Result<u64, StoreError> {
    let value: i64 = row.try_get(column)?;
    u64::try_from(value).map_err(|e| corrupt(column, e))
}

pub(super) fn session_from_row(row: &AnyRow) -> Result<Session, StoreError> {
    let id: String = row.try_get("id")?;
    let thread: String = row.try_get("thread")?;
    let author: String = row.try_get("author")?;
    let repo: Option<String> = row.try_get("repo")?;
    let delivery: String = row.try_get("delivery_id")?;
    let state: String = row.try_get("state")?;
    let lease_owner: Option<String> = row.try_get("lease_owner")?;
    let lease_expires_at: Option<i64> = row.try_get("lease_expires_at")?;
    Ok(Session {
        id: id.parse().map_err(|e| corrupt("session id", e))?,
        trigger: Trigger {
            thread: serde_json::from_str::<ThreadRef>(&thread).map_err(|e| corrupt("thread", e))?,
            author: serde_json::from_str::<Author>(&author).map_err(|e| corrupt("author", e))?,
            task: row.try_get("task")?,
            title: row.try_get("title")?,
            repo: repo
                .map(|r| RepoRef::parse(&r))
                .transpose()
                .map_err(|e| corrupt("repo", e))?,
            delivery: DeliveryId::parse(&delivery).map_err(|e| corrupt("delivery id", e))?,
            agent: row.try_get("agent")?,
        },
        state: SessionState::parse(&state).map_err(|e| corrupt("state", e))?,
        reason: row.try_get("reason")?,
        branch: row.try_get("branch")?,
        pr_url: row.try_get("pr_url")?,
        usage: Usage {
            tokens_in: unsigned(row, "tokens_in")?,
            tokens_out: unsigned(row, "tokens_out")?,
            cost_micros: unsigned(row, "cost_micros")?,
        },
        model: row.try_get("model")?,
        lease: lease_owner
            .zip(lease_expires_at)
            .map(|(owner, expires)| Lease {
                owner,
                expires_at: Timestamp::from_millis(expires),
            }),
        created_at: Timestamp::from_millis(row.try_get("created_at")?),
        updated_at: Timestamp::from_millis(row.try_get("updated_at")?),
    })
}

pub(super) fn event_from_row(session: SessionId, row: &AnyRow) -> Result<Event, StoreError> {
    let body: String = row.try_get("body")?;
    Ok(Event {
        session,
        seq: unsigned(row, "seq")?,
        at: Timestamp::from_millis(row.try_get("created_at")?),
        body: serde_json::from_str::<EventBody>(&body).map_err(|e| corrupt("event", e))?,
    })
}

/// Counts and sizes go into BIGINT columns.
pub(super) fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}
