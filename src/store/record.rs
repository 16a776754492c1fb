//! Recording a trigger: the write every webhook waits on before it answers, so it is
//! built for latency under bursts.
//!
//! PostgreSQL: one statement (data-modifying CTEs), atomic and one round trip.
//! SQLite: group commit. A caller queues its trigger and waits for the writer; whoever
//! holds the writer runs every queued trigger in one transaction and one round trip,
//! and hands each caller its own answer. With many webhooks at once this turns N
//! commits into one.

use super::sessions::to_json;
use super::{Backend, Recorded, Store, StoreError};
use crate::core::{EventBody, Session, SessionId, Timestamp, Trigger};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Executor, Row};
use std::collections::HashMap;
use std::sync::OnceLock;
use tokio::sync::oneshot;

/// Triggers per SQLite batch: 12 parameters each, far under SQLite's limit, and a
/// batch short enough that the last caller in it still answers fast.
const MAX_BATCH: usize = 32;

/// A batch's statements, each over every trigger of the batch at once: one statement
/// per table, not one per trigger, so the writer's thread steps (and answers back)
/// a handful of statements per batch whatever its size. `{…}` stands for the batch's
/// rows of the values inside, with `#N#` for a trigger's Nth parameter:
/// 1 platform, 2 delivery id, 3 session id, 4 now, 5 thread, 6 author, 7 task,
/// 8 repo, 9 thread key, 10 state, 11 first event's kind, 12 its body.
/// A session is made only for a delivery this batch recorded (its row names the new
/// session's id), and its thread and first event only for a session made, so a known
/// delivery changes nothing. Rows come in batch order, so of two triggers in one
/// thread the later one's session is the thread's. The SELECT says which sessions
/// now exist.
const SQLITE_BATCH: [&str; 5] = [
    "INSERT INTO deliveries (platform, delivery_id, session_id, received_at)
    VALUES {(#1#, #2#, #3#, #4#)} ON CONFLICT (platform, delivery_id) DO NOTHING;",
    "INSERT INTO sessions (id, platform, thread, author, task, repo, delivery_id, state, last_seq, created_at, updated_at)
    SELECT v.column1, v.column2, v.column3, v.column4, v.column5, v.column6, v.column7, v.column8, 1, v.column9, v.column9
    FROM (VALUES {(#3#, #1#, #5#, #6#, #7#, #8#, #2#, #10#, #4#)}) AS v
    WHERE EXISTS (SELECT 1 FROM deliveries d
        WHERE d.platform = v.column2 AND d.delivery_id = v.column7 AND d.session_id = v.column1);",
    "INSERT INTO threads (platform, thread_key, session_id, updated_at)
    SELECT v.column1, v.column2, v.column3, v.column4
    FROM (VALUES {(#1#, #9#, #3#, #4#)}) AS v
    WHERE EXISTS (SELECT 1 FROM sessions s WHERE s.id = v.column3)
    ON CONFLICT (platform, thread_key) DO UPDATE SET session_id = excluded.session_id, updated_at = excluded.updated_at;",
    "INSERT INTO events (session_id, seq, kind, body, created_at)
    SELECT v.column1, 1, v.column2, v.column3, v.column4
    FROM (VALUES {(#3#, #11#, #12#, #4#)}) AS v
    WHERE EXISTS (SELECT 1 FROM sessions s WHERE s.id = v.column1);",
    "SELECT v.column1, EXISTS (SELECT 1 FROM sessions s WHERE s.id = v.column1)
    FROM (VALUES {(#3#)}) AS v;",
];
const PARAMS_PER_TRIGGER: usize = 12;

/// The same as one statement, for PostgreSQL.
const POSTGRES: &str = "WITH
 d AS (INSERT INTO deliveries (platform, delivery_id, session_id, received_at)
       VALUES ($1, $2, $3, $4) ON CONFLICT (platform, delivery_id) DO NOTHING RETURNING session_id),
 s AS (INSERT INTO sessions (id, platform, thread, author, task, repo, delivery_id, state, last_seq, created_at, updated_at)
       SELECT session_id, $1, $5, $6, $7, $8, $2, $10, 1, $4, $4 FROM d RETURNING id),
 t AS (INSERT INTO threads (platform, thread_key, session_id, updated_at)
       SELECT $1, $9, id, $4 FROM s
       ON CONFLICT (platform, thread_key) DO UPDATE SET session_id = excluded.session_id, updated_at = excluded.updated_at
       RETURNING 1),
 e AS (INSERT INTO events (session_id, seq, kind, body, created_at)
       SELECT id, 1, $11, $12, $4 FROM s RETURNING 1)
SELECT COUNT(*) FROM s";

/// A trigger waiting for the SQLite writer, and where its answer goes.
pub(super) struct Pending {
    row: Params,
    answer: oneshot::Sender<Result<bool, StoreError>>,
}

/// The values of one trigger's insert, in parameter order.
#[derive(Clone)]
struct Params([Value; PARAMS_PER_TRIGGER]);

#[derive(Clone)]
enum Value {
    Text(Option<String>),
    Millis(i64),
}

fn text(s: impl Into<String>) -> Value {
    Value::Text(Some(s.into()))
}

impl Params {
    fn of(session: &Session) -> Self {
        let t = &session.trigger;
        let queued = EventBody::Status {
            state: session.state,
            message: None,
        };
        Self([
            text(t.platform().as_str()),
            text(t.delivery.as_str()),
            text(session.id.to_string()),
            Value::Millis(session.created_at.as_millis()),
            text(to_json(&t.thread)),
            text(to_json(&t.author)),
            text(t.task.clone()),
            Value::Text(t.repo.as_ref().map(ToString::to_string)),
            text(t.thread.key()),
            text(session.state.as_str()),
            text(queued.kind()),
            text(to_json(&queued)),
        ])
    }

    /// The id of the session this trigger makes.
    fn session_id(&self) -> &str {
        match &self.0[2] {
            Value::Text(Some(id)) => id,
            _ => "",
        }
    }

    fn bind<'q>(
        self,
        mut query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    ) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
        for value in self.0 {
            query = match value {
                Value::Text(text) => query.bind(text),
                Value::Millis(millis) => query.bind(millis),
            };
        }
        query
    }
}

impl Store {
    /// Records a delivery and creates its session atomically, so a delivery is never
    /// acknowledged without its session, nor a session made twice for a platform's
    /// retry. The session's thread now maps to it.
    pub async fn record_trigger(&self, trigger: Trigger) -> Result<Recorded, StoreError> {
        let session = Session::new(trigger, Timestamp::now());
        let params = Params::of(&session);
        let created = match self.backend() {
            Backend::Sqlite => self.record_in_sqlite_group(params).await?,
            Backend::Postgres => {
                let row = params
                    .bind(sqlx::query(POSTGRES))
                    .fetch_one(self.pool())
                    .await?;
                created_from(&row)?
            }
        };
        if !created {
            return Ok(Recorded::Duplicate {
                session: self.delivery_session(&session.trigger).await?,
            });
        }
        self.announce(session.id);
        Ok(Recorded::Created(Box::new(session)))
    }

    async fn record_in_sqlite_group(&self, row: Params) -> Result<bool, StoreError> {
        let (answer, mut answered) = oneshot::channel();
        self.pending_records().push(Pending { row, answer });
        loop {
            // Wait for whichever comes first: the writer, or an answer from whoever
            // holds the writer now (they answer before they let go of it). Waiting
            // for the answer too keeps a caller whose trigger is already committed
            // out of the queue for the writer.
            tokio::select! {
                biased;
                result = &mut answered => {
                    return result.unwrap_or_else(|_| {
                        Err(StoreError::Corrupt("a queued trigger was dropped".into()))
                    });
                }
                mut writer = self.sqlite_writer().clone().lock_owned() => {
                    if let Ok(result) = answered.try_recv() {
                        return result;
                    }
                    let batch: Vec<Pending> = {
                        let mut pending = self.pending_records();
                        let take = pending.len().min(MAX_BATCH);
                        pending.drain(..take).collect()
                    };
                    // Others wait on this batch: it runs to the end even if this
                    // caller stops waiting (a client that hung up).
                    let run = tokio::spawn(async move { run_batch(&mut writer, batch).await });
                    if let Err(e) = run.await {
                        return Err(StoreError::Corrupt(format!("a batch of triggers panicked: {e}")));
                    }
                }
            }
        }
    }

    /// The session an already recorded delivery made, if it made one.
    async fn delivery_session(&self, trigger: &Trigger) -> Result<Option<SessionId>, StoreError> {
        let existing: Option<Option<String>> = sqlx::query_scalar(
            "SELECT session_id FROM deliveries WHERE platform = $1 AND delivery_id = $2",
        )
        .bind(trigger.platform().as_str())
        .bind(trigger.delivery.as_str())
        .fetch_optional(self.pool())
        .await?;
        Ok(existing.flatten().and_then(|s| s.parse().ok()))
    }
}

/// Runs the batch in one transaction and answers each caller. If the batch fails,
/// each trigger is tried alone, so one bad trigger cannot fail the others.
async fn run_batch(writer: &mut AnyConnection, batch: Vec<Pending>) {
    if batch.is_empty() {
        return;
    }
    let mut query = sqlx::query(sqlite_batch_sql(batch.len()));
    let mut answers = Vec::with_capacity(batch.len());
    let mut rows_for_retry = Vec::new();
    for pending in batch {
        let retry = pending.row.clone();
        query = pending.row.bind(query);
        answers.push(pending.answer);
        rows_for_retry.push(retry);
    }
    // fetch_all: sqlx's fetch_one stops at the first statement of a batch.
    let outcome = query.fetch_all(&mut *writer).await;
    let created: Option<HashMap<String, bool>> = match &outcome {
        Ok(rows) if rows.len() == answers.len() => rows
            .iter()
            .map(|row| {
                let session = row.try_get::<String, _>(0).ok()?;
                let exists = row.try_get::<i64, _>(1).ok()?;
                Some((session, exists > 0))
            })
            .collect(),
        _ => None,
    };
    if let Some(created) = created {
        for (answer, row) in answers.into_iter().zip(&rows_for_retry) {
            let made = created
                .get(row.session_id())
                .copied()
                .ok_or_else(|| StoreError::Corrupt("a batch left out one of its triggers".into()));
            let _ = answer.send(made);
        }
        return;
    }
    // Nothing to roll back if the failure came before BEGIN.
    let _ = writer.execute("ROLLBACK").await;
    if answers.len() == 1 {
        let error = match outcome {
            Err(e) => e.into(),
            Ok(rows) => StoreError::Corrupt(format!("the batch returned {} rows", rows.len())),
        };
        let _ = answers.pop().expect("one answer").send(Err(error));
        return;
    }
    for (answer, row) in answers.into_iter().zip(rows_for_retry) {
        Box::pin(run_batch(writer, vec![Pending { row, answer }])).await;
    }
}

fn created_from(row: &AnyRow) -> Result<bool, StoreError> {
    Ok(row.try_get::<i64, _>(0)? > 0)
}

/// The SQL for a batch of `n` triggers, built once per size.
fn sqlite_batch_sql(n: usize) -> &'static str {
    static BATCHES: OnceLock<Vec<String>> = OnceLock::new();
    let batches = BATCHES.get_or_init(|| (1..=MAX_BATCH).map(batch_sql).collect());
    &batches[n - 1]
}

fn batch_sql(size: usize) -> String {
    let mut sql = String::from("BEGIN IMMEDIATE;");
    for statement in SQLITE_BATCH {
        let (head, rest) = statement
            .split_once('{')
            .expect("a batch statement has rows");
        let (row, tail) = rest.split_once('}').expect("a batch statement's rows end");
        let rows: Vec<String> = (0..size)
            .map(|k| {
                let mut one = row.to_owned();
                // Highest first, so #1# never matches inside #12#.
                for p in (1..=PARAMS_PER_TRIGGER).rev() {
                    one = one.replace(
                        &format!("#{p}#"),
                        &format!("${}", k * PARAMS_PER_TRIGGER + p),
                    );
                }
                one
            })
            .collect();
        sql.push('\n');
        sql.push_str(head);
        sql.push_str(&rows.join(", "));
        sql.push_str(tail);
    }
    sql.push_str("\nCOMMIT;");
    sql
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_number_each_triggers_parameters_apart() {
        let two = sqlite_batch_sql(2);
        assert!(two.starts_with("BEGIN IMMEDIATE;") && two.ends_with("COMMIT;"));
        assert!(two.contains("VALUES ($1, $2, $3, $4), ($13, $14, $15, $16) ON CONFLICT"));
        assert!(
            two.contains("(VALUES ($15, $23, $24, $16))") || two.contains("($15, $23, $24, $16)")
        );
        assert!(!two.contains('#') && !two.contains('{'));
        assert_eq!(two.matches("INSERT INTO").count(), 4);
        assert_eq!(two.matches("SELECT v.column1, EXISTS").count(), 1);
    }
}
