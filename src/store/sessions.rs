//! Sessions: created together with the delivery that asked for them, claimed by
//! workers under a lease, moved through their states.

use super::rows::{session_columns, session_from_row};
use super::{Backend, Store, StoreError};
use crate::core::{EventBody, Platform, Session, SessionId, SessionState, Timestamp};
use sqlx::Row;
use std::time::Duration;

/// What recording a trigger did.
#[derive(Debug)]
pub enum Recorded {
    /// The delivery was new: here is its session, queued.
    Created(Box<Session>),
    /// The platform sent this delivery before (a retry); nothing new was made.
    Duplicate { session: Option<SessionId> },
}

/// What came of removing a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Removed {
    Deleted,
    /// A live session is stopped first.
    NotFinished(SessionState),
    NotFound,
}

#[derive(Clone, Debug, Default)]
pub struct SessionFilter {
    pub state: Option<SessionState>,
    pub platform: Option<Platform>,
    /// `owner/name`.
    pub repo: Option<String>,
    /// Only sessions created before this one: the cursor of the next page.
    pub before: Option<SessionId>,
    pub limit: u32,
}

/// Claimable: queued and never leased, or any live state whose lease ran out (its
/// worker died), of a platform and a forge the claimer serves ($4, $5: their names
/// joined by commas; names have no `_` or `%`, so the `LIKE` matches whole names
/// only). The condition is repeated outside the sub-select so a row that another
/// claimer took in the meantime is not taken twice.
macro_rules! claim_sql {
    ($lock:literal) => {
        concat!(
            "UPDATE sessions SET lease_owner = $1, lease_expires_at = $2, updated_at = $3 \
             WHERE id = (SELECT id FROM sessions \
                 WHERE state IN ('queued', 'provisioning', 'running') \
                   AND (lease_expires_at IS NULL OR lease_expires_at <= $3) \
                   AND (',' || $4 || ',') LIKE ('%,' || platform || ',%') \
                   AND (forge IS NULL OR (',' || $5 || ',') LIKE ('%,' || forge || ',%')) \
                 ORDER BY id LIMIT 1 ",
            $lock,
            ") AND state IN ('queued', 'provisioning', 'running') \
               AND (lease_expires_at IS NULL OR lease_expires_at <= $3) \
             RETURNING ",
            session_columns!()
        )
    };
}

impl Store {
    pub async fn session(&self, id: SessionId) -> Result<Option<Session>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            session_columns!(),
            " FROM sessions WHERE id = $1"
        ))
        .bind(id.to_string())
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(session_from_row).transpose()
    }

    /// Newest first. `filter.before` pages backwards from a session id.
    pub async fn list_sessions(&self, filter: &SessionFilter) -> Result<Vec<Session>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            session_columns!(),
            " FROM sessions WHERE ($1 IS NULL OR state = $1) AND ($2 IS NULL OR id < $2) \
             AND ($4 IS NULL OR platform = $4) AND ($5 IS NULL OR repo = $5) \
             ORDER BY id DESC LIMIT $3"
        ))
        .bind(filter.state.map(SessionState::as_str))
        .bind(filter.before.map(|id| id.to_string()))
        .bind(i64::from(filter.limit))
        .bind(filter.platform.as_ref().map(|p| p.as_str().to_owned()))
        .bind(filter.repo.clone())
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(session_from_row).collect()
    }

    /// Sessions made at or after `since` and before `until`, at most `limit`, oldest
    /// first.
    pub async fn sessions_made_between(
        &self,
        since: Timestamp,
        until: Timestamp,
        limit: u32,
    ) -> Result<Vec<Session>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            session_columns!(),
            " FROM sessions WHERE created_at >= $1 AND created_at < $2 ORDER BY id LIMIT $3"
        ))
        .bind(since.as_millis())
        .bind(until.as_millis())
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(session_from_row).collect()
    }

    /// Sessions made at or after `since` and before `until`: how many, their tokens
    /// (in and out) and their cost in micro-dollars.
    pub async fn spent_between(
        &self,
        since: Timestamp,
        until: Timestamp,
    ) -> Result<(u64, u64, u64), StoreError> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n, \
             CAST(COALESCE(SUM(tokens_in + tokens_out), 0) AS BIGINT) AS tokens, \
             CAST(COALESCE(SUM(cost_micros), 0) AS BIGINT) AS cost \
             FROM sessions WHERE created_at >= $1 AND created_at < $2",
        )
        .bind(since.as_millis())
        .bind(until.as_millis())
        .fetch_one(self.pool())
        .await?;
        let count = |column: &str| -> Result<u64, StoreError> {
            let n: i64 = row.try_get(column)?;
            Ok(u64::try_from(n).unwrap_or(0))
        };
        Ok((count("n")?, count("tokens")?, count("cost")?))
    }

    pub async fn count_sessions_by_state(&self) -> Result<Vec<(SessionState, u64)>, StoreError> {
        let rows = sqlx::query("SELECT state, COUNT(*) AS n FROM sessions GROUP BY state")
            .fetch_all(self.pool())
            .await?;
        let mut counts: Vec<(SessionState, u64)> =
            SessionState::ALL.iter().map(|s| (*s, 0)).collect();
        for row in rows {
            let state: String = row.try_get("state")?;
            let n: i64 = row.try_get("n")?;
            let state =
                SessionState::parse(&state).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            if let Some(entry) = counts.iter_mut().find(|(s, _)| *s == state) {
                entry.1 = u64::try_from(n).unwrap_or(0);
            }
        }
        Ok(counts)
    }

    /// Sessions some worker is running (provisioning or running): their sandboxes
    /// must be left alone.
    pub async fn live_session_ids(&self) -> Result<Vec<SessionId>, StoreError> {
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT id FROM sessions WHERE state IN ('provisioning', 'running')",
        )
        .fetch_all(self.pool())
        .await?;
        ids.iter()
            .map(|id| {
                id.parse()
                    .map_err(|e: crate::core::InvalidId| StoreError::Corrupt(e.to_string()))
            })
            .collect()
    }

    /// Takes the oldest claimable session that `serves` covers for `owner` until
    /// `now + ttl`. Two workers never get the same session while its lease is live: on
    /// PostgreSQL the row is locked with `FOR UPDATE SKIP LOCKED`, on SQLite the write
    /// is serialized.
    pub async fn claim_next(
        &self,
        owner: &str,
        ttl: Duration,
        now: Timestamp,
        serves: &Serves,
    ) -> Result<Option<Session>, StoreError> {
        if serves.platforms.is_empty() {
            return Ok(None);
        }
        let (platforms, forges) = serves.joined();
        let sql = match self.backend() {
            Backend::Sqlite => claim_sql!(""),
            Backend::Postgres => claim_sql!("FOR UPDATE SKIP LOCKED"),
        };
        let row = self
            .write(async |conn| {
                Ok(sqlx::query(sql)
                    .bind(owner)
                    .bind(now.plus(ttl).as_millis())
                    .bind(now.as_millis())
                    .bind(&platforms)
                    .bind(&forges)
                    .fetch_optional(&mut *conn)
                    .await?)
            })
            .await?;
        row.as_ref().map(session_from_row).transpose()
    }

    /// How many queued sessions a worker that `serves` these would never claim: they
    /// wait for one that serves their platform and forge.
    pub async fn count_unserved(&self, serves: &Serves) -> Result<u64, StoreError> {
        let (platforms, forges) = serves.joined();
        let count: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM sessions WHERE state = 'queued' \
             AND ((',' || $1 || ',') NOT LIKE ('%,' || platform || ',%') \
               OR (forge IS NOT NULL AND (',' || $2 || ',') NOT LIKE ('%,' || forge || ',%')))",
        )
        .bind(platforms)
        .bind(forges)
        .fetch_one(self.pool())
        .await?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    /// Extends `owner`'s lease. False when the lease is no longer theirs: another
    /// worker took the session over, or it finished.
    pub async fn renew_lease(
        &self,
        id: SessionId,
        owner: &str,
        ttl: Duration,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let renewed = self
            .write(async |conn| {
                Ok(sqlx::query(
                    "UPDATE sessions SET lease_expires_at = $1, updated_at = $2 \
                     WHERE id = $3 AND lease_owner = $4 AND lease_expires_at > $2",
                )
                .bind(now.plus(ttl).as_millis())
                .bind(now.as_millis())
                .bind(id.to_string())
                .bind(owner)
                .execute(&mut *conn)
                .await?
                .rows_affected())
            })
            .await?;
        Ok(renewed == 1)
    }

    /// Moves a session to `to` and logs a Status event, in one transaction. With
    /// `lease_owner`, only that worker's live lease may do it. A finished session
    /// gives up its lease.
    pub async fn transition(
        &self,
        id: SessionId,
        to: SessionState,
        reason: Option<String>,
        lease_owner: Option<&str>,
    ) -> Result<Session, StoreError> {
        let now = Timestamp::now();
        let session = self
            .write(async |conn| transition_in(conn, id, to, reason, lease_owner, now).await)
            .await?;
        self.announce(id);
        Ok(session)
    }
}

impl Store {
    /// The branch a session works on, once it is known.
    pub async fn set_branch(&self, id: SessionId, branch: &str) -> Result<(), StoreError> {
        self.set_column(id, "branch", branch).await
    }

    /// The pull request a session opened.
    /// Renames a session (its title, as lists show it).
    pub async fn set_title(&self, id: SessionId, title: &str) -> Result<(), StoreError> {
        self.set_column(id, "title", title).await
    }

    /// Removes a finished session with its log, its conversation and its threads'
    /// link to it, in one transaction. The deliveries it came from stay known (without
    /// it), so a platform's late retry of one starts nothing again.
    pub async fn delete_finished_session(&self, id: SessionId) -> Result<Removed, StoreError> {
        let lock = match self.backend() {
            Backend::Postgres => " FOR UPDATE",
            Backend::Sqlite => "",
        };
        let select = format!("SELECT state FROM sessions WHERE id = $1{lock}");
        let id = id.to_string();
        self.write(async |conn| {
            let state: Option<(String,)> = sqlx::query_as(sqlx::AssertSqlSafe(select))
                .bind(&id)
                .fetch_optional(&mut *conn)
                .await?;
            let Some((state,)) = state else {
                return Ok(Removed::NotFound);
            };
            let state =
                SessionState::parse(&state).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            if !state.is_terminal() {
                return Ok(Removed::NotFinished(state));
            }
            for statement in [
                "DELETE FROM events WHERE session_id = $1",
                "DELETE FROM thread_messages WHERE session_id = $1",
                "DELETE FROM pending_thread_ends WHERE session_id = $1",
                "DELETE FROM conversations WHERE session_id = $1",
                "DELETE FROM threads WHERE session_id = $1",
                "DELETE FROM shares WHERE session_id = $1",
                "UPDATE deliveries SET session_id = NULL WHERE session_id = $1",
                "DELETE FROM sessions WHERE id = $1",
            ] {
                sqlx::query(statement).bind(&id).execute(&mut *conn).await?;
            }
            Ok(Removed::Deleted)
        })
        .await
    }

    pub async fn set_pr_url(&self, id: SessionId, url: &str) -> Result<(), StoreError> {
        self.set_column(id, "pr_url", url).await
    }

    /// The model the session's agent asked for, as lucid's model gateway saw it.
    pub async fn set_model(&self, id: SessionId, model: &str) -> Result<(), StoreError> {
        self.set_column(id, "model", model).await
    }

    async fn set_column(
        &self,
        id: SessionId,
        column: &'static str,
        value: &str,
    ) -> Result<(), StoreError> {
        let now = Timestamp::now().as_millis();
        let sql = format!("UPDATE sessions SET {column} = $1, updated_at = $2 WHERE id = $3");
        self.write(async |conn| {
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(value)
                .bind(now)
                .bind(id.to_string())
                .execute(&mut *conn)
                .await?;
            Ok(())
        })
        .await?;
        self.announce(id);
        Ok(())
    }
}

/// `transition`, inside a transaction someone else holds.
pub(super) async fn transition_in(
    conn: &mut sqlx::AnyConnection,
    id: SessionId,
    to: SessionState,
    reason: Option<String>,
    lease_owner: Option<&str>,
    now: Timestamp,
) -> Result<Session, StoreError> {
    let row = sqlx::query(concat!(
        "SELECT ",
        session_columns!(),
        " FROM sessions WHERE id = $1"
    ))
    .bind(id.to_string())
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(StoreError::SessionNotFound(id))?;
    let mut session = session_from_row(&row)?;
    if let Some(owner) = lease_owner {
        let holds = session
            .lease
            .as_ref()
            .is_some_and(|l| l.owner == owner && l.is_live(now));
        if !holds {
            return Err(StoreError::LeaseLost(id));
        }
    }
    let from = session.state;
    // The worker's lease as it stood before the session ends (and gives it up).
    let lease_before = session.lease.as_ref().map(|l| l.expires_at);
    session.transition(to, reason, now)?;
    let lease = session.lease.as_ref();
    let changed = sqlx::query(
        "UPDATE sessions SET state = $1, reason = $2, lease_owner = $3, \
             lease_expires_at = $4, updated_at = $5 WHERE id = $6 AND state = $7",
    )
    .bind(session.state.as_str())
    .bind(session.reason.clone())
    .bind(lease.map(|l| l.owner.clone()))
    .bind(lease.map(|l| l.expires_at.as_millis()))
    .bind(now.as_millis())
    .bind(id.to_string())
    .bind(from.as_str())
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if changed != 1 {
        // Only another process could have moved it under us (PostgreSQL).
        return Err(StoreError::LeaseLost(id));
    }
    let status = EventBody::Status {
        state: to,
        message: session.reason.clone(),
    };
    super::events::append_in(conn, id, &status, now).await?;
    if to.is_terminal() {
        super::pending_ends::ended_in(conn, id, lease_before, now).await?;
    }
    Ok(session)
}

pub(super) fn to_json(value: &impl serde::Serialize) -> String {
    serde_json::to_string(value).expect("domain values always serialize")
}

/// What a worker can run: sessions of these platforms, on these forges.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Serves {
    pub platforms: Vec<Platform>,
    pub forges: Vec<String>,
}

impl Serves {
    /// Names joined by commas, for the claim's `LIKE`s.
    pub(super) fn joined(&self) -> (String, String) {
        let platforms: Vec<&str> = self.platforms.iter().map(Platform::as_str).collect();
        (platforms.join(","), self.forges.join(","))
    }
}
