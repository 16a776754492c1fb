//! The store: sessions, their event logs, webhook deliveries, thread mappings and
//! sealed credentials, on SQLite (one file, no server) or PostgreSQL (several replicas).
//!
//! One implementation serves both through sqlx's `Any` driver; the few places where the
//! two SQL dialects differ say so. Every write that must be atomic runs in one
//! transaction handle, never back through the pool.

mod credentials;
pub mod crypto;
mod error;
mod events;
mod rows;
mod sessions;
mod threads;

pub use error::StoreError;
pub use sessions::{Recorded, SessionFilter};

use crate::config::DatabaseUrl;
use crate::core::SessionId;
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{Any, AnyPool, Executor, Transaction};
use std::sync::{Arc, Once};
use std::time::Duration;
use tokio::sync::{Mutex, MutexGuard, broadcast};

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
    pool: AnyPool,
    backend: Backend,
    /// SQLite has one writer at a time. Queueing writers here, in order, is much
    /// faster and fairer than letting them collide and back off inside SQLite.
    write_gate: Option<Mutex<()>>,
    /// Says "session X has new events" to live streams in this process. Other replicas
    /// are caught by the streams' periodic re-read of the log.
    appended: broadcast::Sender<SessionId>,
}

/// A write transaction, holding the SQLite write gate for as long as it lives.
pub(crate) struct WriteTx<'a> {
    pub(crate) tx: Transaction<'static, Any>,
    _gate: Option<MutexGuard<'a, ()>>,
}

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
        let pool = match backend {
            Backend::Sqlite => {
                options
                    .max_connections(8)
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            // WAL lets readers go on while one writer commits; NORMAL
                            // sync is durable across a process crash, which is what
                            // "acknowledged survives a crash" needs.
                            conn.execute(
                                "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                                 PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON;",
                            )
                            .await?;
                            Ok(())
                        })
                    })
                    .connect(&sqlite_url_creating_file(url.expose()))
                    .await?
            }
            Backend::Postgres => options.max_connections(16).connect(url.expose()).await?,
        };
        let (appended, _) = broadcast::channel(1024);
        Ok(Store {
            inner: Arc::new(Inner {
                pool,
                backend,
                write_gate: (backend == Backend::Sqlite).then(|| Mutex::new(())),
                appended,
            }),
        })
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

    /// New events are announced here (the id of the session that got them).
    pub fn subscribe(&self) -> broadcast::Receiver<SessionId> {
        self.inner.appended.subscribe()
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.inner.pool
    }

    pub(crate) async fn begin_write(&self) -> Result<WriteTx<'_>, StoreError> {
        let gate = match &self.inner.write_gate {
            Some(gate) => Some(gate.lock().await),
            None => None,
        };
        let tx = match self.inner.backend {
            // IMMEDIATE takes the write lock up front, so a transaction that reads
            // before it writes cannot deadlock with another process.
            Backend::Sqlite => self.inner.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.inner.pool.begin().await?,
        };
        Ok(WriteTx { tx, _gate: gate })
    }

    pub(crate) fn announce(&self, session: SessionId) {
        // Nobody listening is fine: streams re-read the log on their own too.
        let _ = self.inner.appended.send(session);
    }

    pub async fn close(&self) {
        self.inner.pool.close().await;
    }
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
