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

/// SQLite's writer, held.
pub(super) type Writer = tokio::sync::OwnedMutexGuard<AnyConnection>;

/// Triggers per SQLite batch: 17 parameters each, far under SQLite's limit, and a
/// batch short enough that the last caller in it still answers fast.
const MAX_BATCH: usize = 32;

/// A batch's statements, each over every trigger of the batch at once: one statement
/// per table, not one per trigger, so the writer's thread steps (and answers back)
/// a handful of statements per batch whatever its size. `{…}` stands for the batch's
/// rows of the values inside, with `#N#` for a trigger's Nth value:
/// 1 platform, 2 delivery id, 3 session id, 4 now, 5 thread, 6 author, 7 task,
/// 8 repo, 9 thread key, 10 state, 11 first event's kind, 12 its body, 13 title,
/// 14 the repository's forge, 15 the agent, 16 the author's id, 17 the thread's place.
/// A session is made only for a delivery this batch recorded (its row names the new
/// session's id), and its thread and first event only for a session made, so a known
/// delivery changes nothing. Rows come in batch order, so of two triggers in one
/// thread the later one's session is the thread's. The SELECT says which sessions
/// now exist.
const SQLITE_BATCH: [&str; 5] = [
    "INSERT INTO deliveries (platform, delivery_id, session_id, received_at)
    VALUES {(#1#, #2#, #3#, #4#)} ON CONFLICT (platform, delivery_id) DO NOTHING;",
    "INSERT INTO sessions (id, platform, thread, author, task, repo, delivery_id, state, last_seq, created_at, updated_at, title, forge, agent, author_id, place)
    SELECT v.column1, v.column2, v.column3, v.column4, v.column5, v.column6, v.column7, v.column8, 1, v.column9, v.column9, v.column10, v.column11, v.column12, v.column13, v.column14
    FROM (VALUES {(#3#, #1#, #5#, #6#, #7#, #8#, #2#, #10#, #4#, #13#, #14#, #15#, #16#, #17#)}) AS v
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
const PARAMS_PER_TRIGGER: usize = 17;

/// The same as one statement, for PostgreSQL.
const POSTGRES: &str = "WITH
 d AS (INSERT INTO deliveries (platform, delivery_id, session_id, received_at)
       VALUES ($1, $2, $3, $4) ON CONFLICT (platform, delivery_id) DO NOTHING RETURNING session_id),
 s AS (INSERT INTO sessions (id, platform, thread, author, task, repo, delivery_id, state, last_seq, created_at, updated_at, title, forge, agent, author_id, place)
       SELECT session_id, $1, $5, $6, $7, $8, $2, $10, 1, $4, $4, $13, $14, $15, $16, $17 FROM d RETURNING id),
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

type Query<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>;

impl Value {
    fn bind<'q>(self, query: Query<'q>) -> Query<'q> {
        match self {
            Value::Text(text) => query.bind(text),
            Value::Millis(millis) => query.bind(millis),
        }
    }
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
            Value::Text(t.title.clone()),
            Value::Text(t.repo.as_ref().map(|r| r.forge().to_owned())),
            Value::Text(t.agent.clone()),
            text(t.author.id.clone()),
            Value::Text(t.thread.place()),
        ])
    }

    /// The id of the session this trigger makes.
    fn session_id(&self) -> &str {
        match &self.0[2] {
            Value::Text(Some(id)) => id,
            _ => "",
        }
    }

    fn bind<'q>(self, query: Query<'q>) -> Query<'q> {
        self.0
            .into_iter()
            .fold(query, |query, value| value.bind(query))
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
            Backend::Sqlite => {
                let store = self.clone();
                self.at_home(async move { store.record_in_sqlite_group(params).await })
                    .await?
            }
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
                    let batch = self.next_record_batch();
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

    /// The next triggers to record together, oldest first.
    fn next_record_batch(&self) -> Vec<Pending> {
        let mut pending = self.pending_records();
        let take = pending.len().min(MAX_BATCH);
        pending.drain(..take).collect()
    }

    /// SQLite's writer, once the triggers waiting for it are recorded (one batch):
    /// every other write takes the writer through here, so a webhook waiting to
    /// answer waits for at most the write in progress, never a queue of follow-ups.
    pub(super) async fn writer_after_triggers(&self) -> Result<Writer, StoreError> {
        let writer = self.sqlite_writer().clone().lock_owned().await;
        let batch = self.next_record_batch();
        if batch.is_empty() {
            return Ok(writer);
        }
        // Run to the end even if this caller stops waiting: the batch's callers wait
        // on it.
        let run = tokio::spawn(async move {
            let mut writer = writer;
            run_batch(&mut writer, batch).await;
            writer
        });
        run.await
            .map_err(|e| StoreError::Corrupt(format!("a batch of triggers panicked: {e}")))
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
    let (mut answers, rows): (Vec<_>, Vec<_>) =
        batch.into_iter().map(|p| (p.answer, p.row)).unzip();
    // fetch_all: sqlx's fetch_one stops at the first statement of a batch.
    let outcome = bind_batch(&rows).fetch_all(&mut *writer).await;
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
        for (answer, row) in answers.into_iter().zip(&rows) {
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
    for (answer, row) in answers.into_iter().zip(rows) {
        Box::pin(run_batch(writer, vec![Pending { row, answer }])).await;
    }
}

fn created_from(row: &AnyRow) -> Result<bool, StoreError> {
    Ok(row.try_get::<i64, _>(0)? > 0)
}

/// The batch's query with every trigger's values bound, in the order its anonymous
/// `?` parameters come: statement by statement, and in each, trigger by trigger.
///
/// Not numbered parameters (`$N`): SQLite finds a numbered parameter's name by a
/// linear scan, and sqlx asks for every parameter's name, which took 8% of the
/// writer's thread on a batch of 32.
fn bind_batch(rows: &[Params]) -> Query<'static> {
    let batch = sqlite_batch(rows.len());
    let mut query = sqlx::query(batch.sql.as_str());
    for values in &batch.values_per_statement {
        for row in rows {
            for &value in values {
                query = row.0[value].clone().bind(query);
            }
        }
    }
    query
}

/// A batch of a given size: its SQL, and for each of its statements which of a
/// trigger's values its row template takes, in order.
struct BatchSql {
    sql: String,
    values_per_statement: Vec<Vec<usize>>,
}

/// The batch for `n` triggers, built once per size.
fn sqlite_batch(n: usize) -> &'static BatchSql {
    static BATCHES: OnceLock<Vec<BatchSql>> = OnceLock::new();
    let batches = BATCHES.get_or_init(|| (1..=MAX_BATCH).map(batch_sql).collect());
    &batches[n - 1]
}

fn batch_sql(size: usize) -> BatchSql {
    let mut sql = String::from("BEGIN IMMEDIATE;");
    let mut values_per_statement = Vec::new();
    for statement in SQLITE_BATCH {
        let (head, rest) = statement
            .split_once('{')
            .expect("a batch statement has rows");
        let (row, tail) = rest.split_once('}').expect("a batch statement's rows end");
        // "(#3#, #1#)" splits into "(", "3", ", ", "1", ")": values at odd places.
        let pieces: Vec<&str> = row.split('#').collect();
        let values = pieces
            .iter()
            .skip(1)
            .step_by(2)
            .map(|n| n.parse::<usize>().expect("a value's number") - 1);
        values_per_statement.push(values.collect());
        let one_row: String = pieces
            .iter()
            .enumerate()
            .map(|(i, piece)| if i % 2 == 1 { "?" } else { piece })
            .collect();
        sql.push('\n');
        sql.push_str(head);
        sql.push_str(&vec![one_row.as_str(); size].join(", "));
        sql.push_str(tail);
    }
    sql.push_str("\nCOMMIT;");
    BatchSql {
        sql,
        values_per_statement,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_bind_each_statements_values_trigger_by_trigger() {
        let two = sqlite_batch(2);
        assert!(two.sql.starts_with("BEGIN IMMEDIATE;") && two.sql.ends_with("COMMIT;"));
        assert!(
            two.sql
                .contains("VALUES (?, ?, ?, ?), (?, ?, ?, ?) ON CONFLICT")
        );
        assert!(two.sql.contains("FROM (VALUES (?), (?)) AS v"));
        assert!(!two.sql.contains('#') && !two.sql.contains('{') && !two.sql.contains('$'));
        assert_eq!(two.sql.matches("INSERT INTO").count(), 4);
        // deliveries: platform, delivery id, session id, now
        assert_eq!(two.values_per_statement[0], [0, 1, 2, 3]);
        // the closing SELECT: the session id
        assert_eq!(two.values_per_statement[4], [2]);
        let per_trigger: usize = two.values_per_statement.iter().map(Vec::len).sum();
        assert_eq!(two.sql.matches('?').count(), 2 * per_trigger);
    }
}
