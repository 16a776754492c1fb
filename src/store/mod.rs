//! The store: sessions, their event logs, webhook deliveries, thread mappings and
//! sealed credentials, on SQLite (one file, no server) or PostgreSQL (several replicas).
//!
//! One implementation serves both through sqlx's `Any` driver; the few places where the
//! two SQL dialects differ say so. Every write that must be atomic runs in one
//! transaction handle, never back through the pool.

mod busy;
mod conversations;
mod credentials;
pub mod crypto;
mod deliveries;
mod error;
mod events;
mod held;
mod inbox;
mod outage;
mod outcomes;
mod pending_ends;
mod questions;
mod record;
mod rows;
mod sessions;
mod shares;
mod threads;
mod watch;

pub use deliveries::{Delivered, DeliveryAction};
pub use error::StoreError;
pub use held::HeldRequest;
pub use inbox::Inboxed;
pub use pending_ends::PendingEnd;
pub use sessions::{Recorded, Removed, Serves, SessionFilter};
pub use shares::ShareRecord;
pub use watch::{REREAD_EVERY, Watch};

use crate::config::DatabaseUrl;
use crate::core::SessionId;
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyConnection, AnyPool, Connection, Executor};
use std::sync::{Arc, Once};
use std::time::Duration;
use tokio::sync::{Mutex, broadcast};

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    /// Reads, on both backends; writes too on PostgreSQL.
    pool: AnyPool,
    backend: Backend,
    /// SQLite has one writer at a time, so lucid keeps one connection for all writes
    /// and queues writers for it in order: much faster and fairer than letting them
    /// collide and back off inside SQLite, and no pool hand-off per write.
    sqlite_writer: Option<Arc<Mutex<AnyConnection>>>,
    /// The runtime the store was opened on (the HTTP server's, in `lucid serve`): SQLite
    /// writes from background threads run there, see [`Store::write_one`].
    home: tokio::runtime::Handle,
    /// Triggers waiting to be recorded together (SQLite's group commit).
    pending_records: std::sync::Mutex<Vec<record::Pending>>,
    /// Says "session X has new events" to live streams in this process. Other replicas
    /// are caught by the streams' periodic re-read of the log.
    appended: broadcast::Sender<SessionId>,
    /// Whether the database answered lately (see [`outage`]).
    availability: outage::Availability,
}

/// Set on every SQLite connection. WAL lets readers go on while one writer commits;
/// NORMAL sync survives a crash of the process, which is what "acknowledged is never
/// lost" needs.
///
/// When the log starts over, a file longer than 256 MiB is cut back to that size.
/// The cut is made by the first commit after, so it holds up every write: set at
/// 64 MiB, below the log's usual length under load (see [`WAL_RESTART_FRAMES`]), it
/// cut at every start and held the writer for 30 to 60 ms each time. At 256 MiB it
/// only cuts a log that grew for an unusual reason (a long-lived reader).
const SQLITE_PRAGMAS: &str = "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
     PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON; \
     PRAGMA journal_size_limit = 268435456;";

/// How long SQLite's writer waits for a write lock another process holds before
/// the write fails (readers keep the 5 s of [`SQLITE_PRAGMAS`]): lucid itself never
/// holds it that long, so past it the database is taken (a maintenance job, a
/// `sqlite3` shell left in a transaction), and a webhook gets its 503 within Slack's
/// three seconds, with room to spare on a loaded machine.
const WRITER_BUSY_TIMEOUT: &str = "PRAGMA busy_timeout = 1500";

impl Store {
    /// Connects without changing anything; `migrate` brings the schema up to date.
    pub async fn connect(url: &DatabaseUrl) -> Result<Store, StoreError> {
        static DRIVERS: Once = Once::new();
        DRIVERS.call_once(install_default_drivers);

        let backend = if url.is_sqlite() {
            Backend::Sqlite
        } else {
            Backend::Postgres
        };
        let options = AnyPoolOptions::new().acquire_timeout(Duration::from_secs(10));
        let (pool, sqlite_writer) = match backend {
            Backend::Sqlite => {
                let url = sqlite_url_creating_file(url.expose());
                let mut writer = open_sqlite_connection(&url).await?;
                // The writer never checkpoints (that fsyncs, and would stall the one
                // write queue); a background task does it instead.
                writer.execute("PRAGMA wal_autocheckpoint = 0").await?;
                writer.execute(WRITER_BUSY_TIMEOUT).await?;
                let pool = options
                    .max_connections(8)
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            conn.execute(SQLITE_PRAGMAS).await?;
                            Ok(())
                        })
                    })
                    .connect(&url)
                    .await?;
                (pool, Some(Arc::new(Mutex::new(writer))))
            }
            Backend::Postgres => (
                options.max_connections(16).connect(url.expose()).await?,
                None,
            ),
        };
        let (appended, _) = broadcast::channel(1024);
        let inner = Arc::new(Inner {
            pool,
            backend,
            sqlite_writer,
            home: tokio::runtime::Handle::current(),
            pending_records: std::sync::Mutex::new(Vec::new()),
            appended,
            availability: outage::Availability::new(),
        });
        if backend == Backend::Sqlite {
            let url = sqlite_url_creating_file(url.expose());
            crate::background::spawn(checkpoint_wal(Arc::downgrade(&inner), url));
        } else {
            let url = url.expose().to_owned();
            crate::background::spawn(outage::probe_postgres(Arc::downgrade(&inner), url));
        }
        Ok(Store { inner })
    }

    pub fn backend(&self) -> Backend {
        self.inner.backend
    }

    fn migrator(&self) -> &'static sqlx::migrate::Migrator {
        match self.inner.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        }
    }

    pub async fn migrate(&self) -> Result<(), StoreError> {
        self.migrator().run(&self.inner.pool).await?;
        Ok(())
    }

    /// How many of lucid's migrations the database has, out of how many exist.
    pub async fn migration_status(&self) -> Result<(usize, usize), StoreError> {
        let known = self.migrator().iter().count();
        let table_exists: Option<i64> = match self.inner.backend {
            Backend::Sqlite => sqlx::query_scalar(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
            ),
            Backend::Postgres => {
                sqlx::query_scalar("SELECT 1 FROM pg_tables WHERE tablename = '_sqlx_migrations'")
            }
        }
        .fetch_optional(&self.inner.pool)
        .await?;
        if table_exists.is_none() {
            return Ok((0, known));
        }
        let applied: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations WHERE success = TRUE")
                .fetch_one(&self.inner.pool)
                .await?;
        Ok((usize::try_from(applied).unwrap_or(0), known))
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.inner.pool).await?;
        Ok(())
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.inner.pool
    }

    /// Runs `work` in one write transaction: committed if it returns Ok, rolled back
    /// if it fails.
    pub(crate) async fn write<T>(
        &self,
        work: impl AsyncFnOnce(&mut AnyConnection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        match &self.inner.sqlite_writer {
            Some(_) => {
                let mut writer = self.writer_after_triggers().await?;
                // IMMEDIATE takes the write lock up front, so a transaction that
                // reads before it writes cannot deadlock with another process.
                let mut tx = writer.begin_with("BEGIN IMMEDIATE").await?;
                let value = work(&mut tx).await?;
                tx.commit().await?;
                Ok(value)
            }
            None => {
                let mut tx = self.inner.pool.begin().await?;
                let value = work(&mut tx).await?;
                tx.commit().await?;
                Ok(value)
            }
        }
    }

    /// Runs one statement on its own, atomic without a transaction around it: on
    /// SQLite one trip to the writer instead of three (BEGIN, the statement, COMMIT).
    ///
    /// SQLite's writer is one lock shared by every write, webhooks' included. Called
    /// from a background thread (see `crate::background`), the statement runs on the
    /// store's own runtime instead: a holder that the kernel leaves waiting behind the
    /// HTTP server's threads would keep those threads waiting for the lock.
    pub(crate) async fn write_one(
        &self,
        statement: sqlx::query::Query<'static, sqlx::Any, sqlx::any::AnyArguments>,
    ) -> Result<u64, StoreError> {
        if self.inner.sqlite_writer.is_none() {
            return Ok(statement.execute(&self.inner.pool).await?.rows_affected());
        }
        let store = self.clone();
        let run = async move {
            let mut writer = store.writer_after_triggers().await?;
            let done = statement.execute(&mut *writer).await?;
            Ok(done.rows_affected())
        };
        self.at_home(run).await
    }

    /// Runs a batch that opens and commits its own transaction (`BEGIN IMMEDIATE; …;
    /// COMMIT;`) on SQLite's writer in one trip, from the store's own runtime like
    /// [`Store::write_one`]. A statement that fails leaves the transaction open, so
    /// it is rolled back before the writer is let go.
    pub(crate) async fn write_batch(
        &self,
        batch: sqlx::query::Query<'static, sqlx::Any, sqlx::any::AnyArguments>,
    ) -> Result<(), StoreError> {
        let store = self.clone();
        let run = async move {
            let mut writer = store.writer_after_triggers().await?;
            match batch.execute(&mut *writer).await {
                Ok(_) => Ok(()),
                Err(e) => {
                    let _ = writer.execute("ROLLBACK").await;
                    Err(e.into())
                }
            }
        };
        self.at_home(run).await
    }

    /// Runs `work` on the store's own runtime when called from a background thread:
    /// whatever waits for or holds SQLite's writer does so at the HTTP server's
    /// priority, never behind it.
    pub(crate) async fn at_home<T: Send + 'static>(
        &self,
        work: impl Future<Output = Result<T, StoreError>> + Send + 'static,
    ) -> Result<T, StoreError> {
        if !crate::background::on_background_thread() {
            return work.await;
        }
        self.inner
            .home
            .spawn(work)
            .await
            .unwrap_or_else(|e| Err(StoreError::Corrupt(format!("a write stopped: {e}"))))
    }

    fn sqlite_writer(&self) -> &Arc<Mutex<AnyConnection>> {
        self.inner
            .sqlite_writer
            .as_ref()
            .expect("only SQLite stores have a dedicated writer")
    }

    fn pending_records(&self) -> std::sync::MutexGuard<'_, Vec<record::Pending>> {
        // A panic while holding this lock leaves a plain Vec behind: still usable.
        self.inner
            .pending_records
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn announce(&self, session: SessionId) {
        // Nobody listening is fine: streams re-read the log on their own too.
        let _ = self.inner.appended.send(session);
    }

    pub async fn close(&self) {
        if let Some(writer) = &self.inner.sqlite_writer {
            let _ = writer.lock().await.execute("PRAGMA optimize").await;
        }
        self.inner.pool.close().await;
    }
}

/// How often the write-ahead log is copied back into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);

/// Write-ahead log frames (one 4 KiB page each, so 128 MiB) past which the checkpoint
/// makes the log start over, with a last pass that holds the writer back for a few
/// milliseconds (mostly its fsync). Under 32 writers that never pause, the log starts
/// over about once a second at this length; at 32 MiB it did so at every pass, and
/// those holds set the p99 of recording a trigger (5–6 ms against 3–4 ms). A log
/// that starts over while idle (any pause in the writes) never gets this long.
const WAL_RESTART_FRAMES: i64 = 32 * 1024;

/// Frames that may come in during a pass for the next one to be the last: copying
/// them holds the writer back well under a millisecond.
const WAL_CAUGHT_UP_FRAMES: i64 = 256;

/// Passes that may run to catch up before the last one, in case writes come in faster
/// than a pass copies them.
const MAX_CATCH_UP_PASSES: usize = 8;

/// Copies SQLite's write-ahead log back into the database file now and then, beside
/// the writer rather than in its way (PASSIVE never waits for it). Ends with the store.
///
/// It has a connection of its own, opened here: the connection's SQLite thread is
/// started by this task's thread, so under `lucid serve` it has the background
/// threads' lower priority (see `crate::background`) and the copying, which takes
/// tens of milliseconds under load, stands back for the writer and the webhooks.
///
/// The log only starts over (and its file stops growing) when a write begins after a
/// checkpoint copied every frame in it. Under steady writes that never happens: each
/// pass copies the log as it was when the pass began, while new frames come in behind
/// it (the log grew by 25 MB a second under the webhook benchmark). So once the log
/// holds [`WAL_RESTART_FRAMES`], passes run back to back, each copying only what came
/// in during the one before, until that is little; then a last pass holds the writer
/// while it copies the rest, and the next write starts the log over. (Straight after
/// one long pass, the last one held the writer for 10 ms; after catching up, 3 ms.)
async fn checkpoint_wal(store: std::sync::Weak<Inner>, url: String) {
    let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut copier: Option<AnyConnection> = None;
    loop {
        tick.tick().await;
        let Some(inner) = store.upgrade() else { return };
        if inner.pool.is_closed() {
            return;
        }
        if copier.is_none() {
            copier = match open_sqlite_connection(&url).await {
                Ok(conn) => Some(conn),
                Err(e) => {
                    tracing::warn!(error = %e, "SQLite checkpoint cannot connect; will retry");
                    continue;
                }
            };
        }
        let conn = copier.as_mut().expect("opened above");
        if let Err(e) = checkpoint_and_restart(conn, &inner).await {
            tracing::warn!(error = %e, "SQLite checkpoint failed; will retry");
            copier = None;
        }
    }
}

/// A SQLite connection of its own, outside the pool (the writer's, the checkpoint's).
async fn open_sqlite_connection(url: &str) -> Result<AnyConnection, sqlx::Error> {
    let mut conn = AnyConnection::connect(url).await?;
    conn.execute(SQLITE_PRAGMAS).await?;
    Ok(conn)
}

/// One round: a pass beside the writer, and once the log is long, the catch-up
/// passes and the last one that lets the log start over.
async fn checkpoint_and_restart(
    conn: &mut AnyConnection,
    inner: &Inner,
) -> Result<(), sqlx::Error> {
    let mut logged = checkpoint(&mut *conn).await?;
    let Some(writer) = &inner.sqlite_writer else {
        return Ok(());
    };
    if logged < WAL_RESTART_FRAMES {
        return Ok(());
    }
    for _ in 0..MAX_CATCH_UP_PASSES {
        let before = logged;
        logged = checkpoint(&mut *conn).await?;
        if logged - before <= WAL_CAUGHT_UP_FRAMES {
            break;
        }
    }
    // On the writer's own connection: its thread has the writer's priority, so the
    // webhooks waiting for the writer never wait behind a background thread.
    checkpoint(&mut *writer.lock().await).await?;
    Ok(())
}

/// One PASSIVE checkpoint; answers how many frames the log held when it began.
async fn checkpoint<'c>(on: impl Executor<'c, Database = sqlx::Any>) -> Result<i64, sqlx::Error> {
    // (busy, frames in the log, frames copied into the database)
    let (_, logged, _): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)")
        .fetch_one(on)
        .await?;
    Ok(logged)
}

/// `sqlite://lucid.db` must create the file on first run; sqlx only does that when
/// asked with `mode=rwc`.
fn sqlite_url_creating_file(url: &str) -> String {
    if url.contains("mode=") {
        url.to_owned()
    } else if url.contains('?') {
        format!("{url}&mode=rwc")
    } else {
        format!("{url}?mode=rwc")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sqlite_urls_create_their_file_unless_told_otherwise() {
        use super::sqlite_url_creating_file as f;
        assert_eq!(f("sqlite://lucid.db"), "sqlite://lucid.db?mode=rwc");
        assert_eq!(
            f("sqlite://a.db?cache=shared"),
            "sqlite://a.db?cache=shared&mode=rwc"
        );
        assert_eq!(f("sqlite://a.db?mode=ro"), "sqlite://a.db?mode=ro");
    }
}
