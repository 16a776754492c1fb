//! What the tests stand on: a fresh database per test on either backend, the real
//! HTTP server on a random port, and a reader for Server-Sent Events.

use futures::StreamExt;
use lucid::config::DatabaseUrl;
use lucid::core::{Author, DeliveryId, RepoRef, ThreadRef, Trigger};
use lucid::http::{AppState, router};
use lucid::sandbox::DockerEngine;
use lucid::store::{Recorded, Store};
use secrecy::SecretString;
use sqlx::Connection;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

/// How long any single wait in a test may take before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(20);

pub async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(DEADLINE, fut)
        .await
        .unwrap_or_else(|_| panic!("timed out after {DEADLINE:?} waiting for {what}"))
}

#[derive(Clone, Copy, Debug)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A database of its own for one test. SQLite: a file in a temp dir. PostgreSQL: a
/// new database on the server `.ci/run` starts (named by TEST_POSTGRES_URL).
pub struct TestDb {
    pub url: DatabaseUrl,
    _dir: Option<tempfile::TempDir>,
    /// The server and database name to drop when the test ends (PostgreSQL only).
    postgres: Option<(String, String)>,
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((admin, name)) = self.postgres.take() else {
            return;
        };
        // Drop runs outside async code, so the cleanup gets a runtime of its own.
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let mut conn = sqlx::AnyConnection::connect(&admin).await?;
                let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                    .execute(&mut conn)
                    .await?;
                conn.close().await
            })?;
            Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
        });
        if let Ok(Err(e)) = cleanup.join() {
            eprintln!("could not drop test database: {e}");
        }
    }
}

pub async fn fresh_db(backend: Backend) -> TestDb {
    match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().unwrap();
            let url = format!("sqlite://{}/lucid.db", dir.path().display());
            TestDb {
                url: DatabaseUrl::parse(&url).unwrap(),
                _dir: Some(dir),
                postgres: None,
            }
        }
        Backend::Postgres => {
            let admin = std::env::var("TEST_POSTGRES_URL").expect(
                "TEST_POSTGRES_URL is not set: run the tests with scripts/test (it starts \
                 PostgreSQL), or point TEST_POSTGRES_URL at a server where you may create databases",
            );
            sqlx::any::install_default_drivers();
            let name = format!("lucid_test_{}", uuid::Uuid::now_v7().simple());
            let mut conn = sqlx::AnyConnection::connect(&admin)
                .await
                .expect("cannot connect to TEST_POSTGRES_URL");
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&mut conn)
                .await
                .unwrap();
            conn.close().await.unwrap();
            let mut url = url::Url::parse(&admin).unwrap();
            url.set_path(&name);
            TestDb {
                url: DatabaseUrl::parse(url.as_str()).unwrap(),
                _dir: None,
                postgres: Some((admin, name)),
            }
        }
    }
}

pub async fn migrated_store(backend: Backend) -> (Store, TestDb) {
    let db = fresh_db(backend).await;
    let store = Store::connect(&db.url).await.unwrap();
    store.migrate().await.unwrap();
    (store, db)
}

pub fn trigger(delivery: &str) -> Trigger {
    trigger_in(
        ThreadRef::Github {
            repo: RepoRef::parse("acme/app").unwrap(),
            issue: 7,
        },
        delivery,
    )
}

pub fn trigger_in(thread: ThreadRef, delivery: &str) -> Trigger {
    Trigger {
        thread,
        author: Author {
            id: "ada".into(),
            display_name: "Ada".into(),
        },
        task: "make the tests pass".into(),
        title: None,
        repo: Some(RepoRef::parse("acme/app").unwrap()),
        delivery: DeliveryId::parse(delivery).unwrap(),
        agent: None,
    }
}

pub async fn new_session(store: &Store, delivery: &str) -> lucid::core::Session {
    match store.record_trigger(trigger(delivery)).await.unwrap() {
        Recorded::Created(session) => *session,
        Recorded::Duplicate { .. } => panic!("delivery {delivery} was already recorded"),
    }
}

pub fn docker_host() -> String {
    std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".into())
}

pub const API_TOKEN: &str = "test-token-0123456789";

/// lucid's real router and store, served over loopback on a random port.
pub struct TestApp {
    pub addr: SocketAddr,
    pub store: Store,
    pub http: reqwest::Client,
    _db: TestDb,
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> TestApp {
        Self::spawn_with(backend, Some(API_TOKEN), &docker_host()).await
    }

    pub async fn spawn_with(backend: Backend, token: Option<&str>, docker_host: &str) -> TestApp {
        let (store, db) = migrated_store(backend).await;
        let docker = std::sync::Arc::new(DockerEngine::new(docker_host).unwrap());
        let state = AppState::new(store.clone(), docker, token.map(SecretString::from));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router(state)).await });
        TestApp {
            addr,
            store,
            http: reqwest::Client::new(),
            _db: db,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// A GET with the right API token.
    pub fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.get(self.url(path)).bearer_auth(API_TOKEN)
    }

    pub async fn get_json(&self, path: &str) -> (u16, serde_json::Value) {
        let response = within(path, self.get(path).send()).await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }
}

/// One Server-Sent Event as the client sees it.
#[derive(Debug, Clone)]
pub struct Sse {
    pub id: Option<String>,
    pub event: Option<String>,
    pub data: String,
}

/// Reads an SSE response event by event (comments and keep-alives skipped).
pub struct SseReader {
    body: futures::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    buffer: String,
}

impl SseReader {
    pub fn new(response: reqwest::Response) -> Self {
        Self {
            body: response.bytes_stream().boxed(),
            buffer: String::new(),
        }
    }

    /// The next event, or None when the server ended the stream.
    pub async fn next(&mut self) -> Option<Sse> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                if let Some(event) = parse_block(&block) {
                    return Some(event);
                }
                continue;
            }
            let chunk = within("the next SSE chunk", self.body.next()).await?;
            self.buffer
                .push_str(&String::from_utf8_lossy(&chunk.unwrap()));
        }
    }
}

fn parse_block(block: &str) -> Option<Sse> {
    let mut event = Sse {
        id: None,
        event: None,
        data: String::new(),
    };
    let mut any = false;
    for line in block.lines() {
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "id" => event.id = Some(value.to_owned()),
            "event" => event.event = Some(value.to_owned()),
            "data" => {
                if !event.data.is_empty() {
                    event.data.push('\n');
                }
                event.data.push_str(value);
            }
            _ => continue,
        }
        any = true;
    }
    any.then_some(event)
}

/// Declares each listed test once per store backend: `sqlite::name`, `postgres::name`.
macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name(crate::harness::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name(crate::harness::Backend::Postgres).await
                }
            )*
        }
    };
}
pub(crate) use on_both_stores;
