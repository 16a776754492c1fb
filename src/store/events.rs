//! The per-session event log: append-only and numbered without gaps.

use super::rows::{event_from_row, to_i64};
use super::sessions::to_json;
use super::{Store, StoreError};
use crate::core::{Event, EventBody, SessionId, Timestamp};
use sqlx::AnyConnection;

impl Store {
    /// Appends one event and announces it to live streams. A `Usage` event also sets
    /// the session's running totals.
    pub async fn append_event(
        &self,
        session: SessionId,
        body: EventBody,
    ) -> Result<Event, StoreError> {
        let now = Timestamp::now();
        let event = self
            .write(async |conn| {
                let event = append_in(conn, session, &body, now).await?;
                if let EventBody::Usage {
                    tokens_in,
                    tokens_out,
                    cost_micros,
                } = body
                {
                    sqlx::query(
                        "UPDATE sessions SET tokens_in = $1, tokens_out = $2, cost_micros = $3 \
                         WHERE id = $4",
                    )
                    .bind(to_i64(tokens_in))
                    .bind(to_i64(tokens_out))
                    .bind(to_i64(cost_micros))
                    .bind(session.to_string())
                    .execute(&mut *conn)
                    .await?;
                }
                Ok(event)
            })
            .await?;
        self.announce(session);
        Ok(event)
    }

    /// The number of the session's newest event (0 before any), `None` for no session.
    pub async fn last_seq(&self, session: SessionId) -> Result<Option<u64>, StoreError> {
        let last: Option<i64> = sqlx::query_scalar("SELECT last_seq FROM sessions WHERE id = $1")
            .bind(session.to_string())
            .fetch_optional(self.pool())
            .await?;
        Ok(last.map(|n| u64::try_from(n).unwrap_or(0)))
    }

    /// Events numbered after `after`, oldest first, at most `limit`.
    pub async fn events_after(
        &self,
        session: SessionId,
        after: u64,
        limit: u32,
    ) -> Result<Vec<Event>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, body, created_at FROM events \
             WHERE session_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        )
        .bind(session.to_string())
        .bind(to_i64(after))
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| event_from_row(session, row))
            .collect()
    }

    /// A session's events of one kind (`checkpoint`, …), oldest first, at most
    /// `limit` after `after`.
    pub async fn events_of_kind(
        &self,
        session: SessionId,
        kind: &str,
        after: u64,
        limit: u32,
    ) -> Result<Vec<Event>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, body, created_at FROM events \
             WHERE session_id = $1 AND kind = $2 AND seq > $3 ORDER BY seq LIMIT $4",
        )
        .bind(session.to_string())
        .bind(kind)
        .bind(to_i64(after))
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| event_from_row(session, row))
            .collect()
    }

    /// Appends to `events` (a session's log as read so far) everything logged since.
    pub async fn catch_up_events(
        &self,
        session: SessionId,
        events: &mut Vec<Event>,
    ) -> Result<(), StoreError> {
        loop {
            let after = events.last().map_or(0, |e| e.seq);
            let page = self.events_after(session, after, 1000).await?;
            if page.is_empty() {
                return Ok(());
            }
            events.extend(page);
        }
    }

    /// How many events all sessions hold, for the metrics page.
    pub async fn count_events(&self) -> Result<u64, StoreError> {
        let total: Option<i64> =
            sqlx::query_scalar("SELECT CAST(SUM(last_seq) AS BIGINT) FROM sessions")
                .fetch_one(self.pool())
                .await?;
        Ok(total.map_or(0, |t| u64::try_from(t).unwrap_or(0)))
    }
}

/// Appends inside the caller's transaction: bumping the session's counter takes its
/// row lock, so concurrent appends to one session get consecutive numbers.
pub(super) async fn append_in(
    conn: &mut AnyConnection,
    session: SessionId,
    body: &EventBody,
    now: Timestamp,
) -> Result<Event, StoreError> {
    let seq: Option<i64> = sqlx::query_scalar(
        "UPDATE sessions SET last_seq = last_seq + 1, updated_at = $1 WHERE id = $2 RETURNING last_seq",
    )
    .bind(now.as_millis())
    .bind(session.to_string())
    .fetch_optional(&mut *conn)
    .await?;
    let seq = seq.ok_or(StoreError::SessionNotFound(session))?;
    sqlx::query(
        "INSERT INTO events (session_id, seq, kind, body, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(session.to_string())
    .bind(seq)
    .bind(body.kind())
    .bind(to_json(body))
    .bind(now.as_millis())
    .execute(&mut *conn)
    .await?;
    Ok(Event {
        session,
        seq: u64::try_from(seq).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        at: now,
        body: body.clone(),
    })
}
