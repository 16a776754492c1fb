//! Sessions whose thread is not yet caught up with their end (`pending_thread_ends`):
//! the mark outlives the process that followed the thread, so that a session whose
//! last thread write waited for its platform when that lucid died still gets its end
//! written, by whichever lucid claims the mark. One follower at a time holds a mark,
//! under a lease like a session's, so no end is written twice at once.

use super::{Backend, Serves, Store, StoreError};
use crate::core::{Session, SessionId, Timestamp};
use sqlx::Row;
use std::time::Duration;

/// A mark claimed by a sweep: the session, and when it ended.
#[derive(Debug)]
pub struct PendingEnd {
    pub session: Session,
    pub ended_at: Timestamp,
}

/// Claimable: the session is finished and no follower holds the mark (or its hold
/// ran out), of a platform the claimer serves (`$4`, names joined by commas as for
/// sessions). The condition is repeated outside the sub-select so that a mark
/// another claimer took meanwhile is not taken twice.
macro_rules! claim_pending_sql {
    ($lock:literal) => {
        concat!(
            "UPDATE pending_thread_ends SET lease_owner = $1, lease_expires_at = $2 \
             WHERE session_id = (SELECT p.session_id FROM pending_thread_ends p \
                 JOIN sessions s ON s.id = p.session_id \
                 WHERE s.state IN ('completed', 'failed', 'cancelled') \
                   AND (p.lease_expires_at IS NULL OR p.lease_expires_at <= $3) \
                   AND (',' || $4 || ',') LIKE ('%,' || s.platform || ',%') \
                 ORDER BY p.session_id LIMIT 1 ",
            $lock,
            ") AND (lease_expires_at IS NULL OR lease_expires_at <= $3) \
             RETURNING session_id, ended_at"
        )
    };
}

impl Store {
    /// Marks `session`'s end as not yet in its thread, held by `holder` (the follower
    /// that starts now) until `now + ttl`. A session run again (a follow-up) is marked
    /// afresh: its new end is the one to write.
    pub async fn mark_end_pending(
        &self,
        session: SessionId,
        holder: &str,
        ttl: Duration,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let upsert = sqlx::query(
            "INSERT INTO pending_thread_ends (session_id, lease_owner, lease_expires_at, ended_at) \
             VALUES ($1, $2, $3, NULL) ON CONFLICT (session_id) DO UPDATE SET \
             lease_owner = excluded.lease_owner, lease_expires_at = excluded.lease_expires_at, \
             ended_at = NULL",
        )
        .bind(session.to_string())
        .bind(holder.to_owned())
        .bind(now.plus(ttl).as_millis());
        self.write_one(upsert).await?;
        Ok(())
    }

    /// Extends `holder`'s hold on `session`'s mark. False when it is no longer
    /// theirs: another lucid claimed it (the hold ran out), or it is gone.
    pub async fn hold_pending_end(
        &self,
        session: SessionId,
        holder: &str,
        ttl: Duration,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let renew = sqlx::query(
            "UPDATE pending_thread_ends SET lease_expires_at = $1 \
             WHERE session_id = $2 AND lease_owner = $3",
        )
        .bind(now.plus(ttl).as_millis())
        .bind(session.to_string())
        .bind(holder.to_owned());
        Ok(self.write_one(renew).await? == 1)
    }

    /// Lets go of `holder`'s hold (this lucid stops): the next sweep anywhere may
    /// claim the mark at once.
    pub async fn release_pending_end(
        &self,
        session: SessionId,
        holder: &str,
    ) -> Result<(), StoreError> {
        let release = sqlx::query(
            "UPDATE pending_thread_ends SET lease_expires_at = NULL \
             WHERE session_id = $1 AND lease_owner = $2",
        )
        .bind(session.to_string())
        .bind(holder.to_owned());
        self.write_one(release).await?;
        Ok(())
    }

    /// The end is in the thread (or was given up on): the mark goes, if `holder`
    /// still holds it.
    pub async fn clear_pending_end(
        &self,
        session: SessionId,
        holder: &str,
    ) -> Result<(), StoreError> {
        let clear = sqlx::query(
            "DELETE FROM pending_thread_ends WHERE session_id = $1 AND lease_owner = $2",
        )
        .bind(session.to_string())
        .bind(holder.to_owned());
        self.write_one(clear).await?;
        Ok(())
    }

    /// Takes the oldest claimable mark for `holder` until `now + ttl`. Two lucids never
    /// get the same mark while its hold is live: on PostgreSQL the row is locked with
    /// `FOR UPDATE SKIP LOCKED`, on SQLite the write is serialized.
    pub async fn claim_pending_end(
        &self,
        holder: &str,
        ttl: Duration,
        now: Timestamp,
        serves: &Serves,
    ) -> Result<Option<PendingEnd>, StoreError> {
        if serves.platforms.is_empty() {
            return Ok(None);
        }
        let (platforms, _) = serves.joined();
        let sql = match self.backend() {
            Backend::Sqlite => claim_pending_sql!(""),
            Backend::Postgres => claim_pending_sql!("FOR UPDATE OF p SKIP LOCKED"),
        };
        let claimed = self
            .write(async |conn| {
                Ok(sqlx::query(sql)
                    .bind(holder)
                    .bind(now.plus(ttl).as_millis())
                    .bind(now.as_millis())
                    .bind(&platforms)
                    .fetch_optional(&mut *conn)
                    .await?)
            })
            .await?;
        let Some(row) = claimed else {
            return Ok(None);
        };
        let id: String = row.try_get("session_id")?;
        let ended_at: Option<i64> = row.try_get("ended_at")?;
        let id: SessionId = id
            .parse()
            .map_err(|e: crate::core::InvalidId| StoreError::Corrupt(e.to_string()))?;
        let Some(session) = self.session(id).await? else {
            return Ok(None);
        };
        // Marked ends always have their time; the session's last change stands in.
        let ended_at = ended_at.map_or(session.updated_at, Timestamp::from_millis);
        Ok(Some(PendingEnd { session, ended_at }))
    }
}

/// Inside the transaction that finishes `session` (see `transition_in`): its mark, if
/// it has one, learns when the session ended, and stays held as long as the worker's
/// lease on the session would have: the follower that wrote the thread so far writes
/// its end, and takes the hold over from there. With no live lease (the session was
/// ended while no worker ran it), any sweep may claim the mark at once.
pub(super) async fn ended_in(
    conn: &mut sqlx::AnyConnection,
    session: SessionId,
    lease_expires_at: Option<Timestamp>,
    now: Timestamp,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE pending_thread_ends SET ended_at = $1, lease_expires_at = $2 \
         WHERE session_id = $3",
    )
    .bind(now.as_millis())
    .bind(lease_expires_at.map(Timestamp::as_millis))
    .bind(session.to_string())
    .execute(&mut *conn)
    .await?;
    Ok(())
}
