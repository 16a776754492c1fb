//! Recording a delivery and creating its session, the write every webhook makes before
//! it answers: operations per second and latency (p50, p99, p99.9, max) with 1 and 32
//! concurrent writers, on SQLite and (when TEST_POSTGRES_URL names a server)
//! PostgreSQL.
//!
//! Also the CPU time per operation, for the whole process (PostgreSQL's own is not
//! in it).
//!
//! Run: `cargo bench --bench store` (scripts/test's services give it PostgreSQL:
//! `source scripts/services.sh && ensure_postgres && cargo bench --bench store`).

use lucid::config::DatabaseUrl;
use lucid::core::{Author, DeliveryId, RepoRef, ThreadRef, Trigger};
use lucid::store::{Recorded, Store};
use sqlx::Connection;
use std::time::{Duration, Instant};

const OPS_ALONE: usize = 20_000;
const OPS_PER_WRITER_OF_32: usize = 2_000;

fn main() {
    // As in `lucid serve`: the store's upkeep (copying SQLite's log back into the
    // database) runs on the background runtime, behind the writes.
    let background = lucid::background::start().unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        println!("record delivery + create session");
        println!(
            "{:<10} {:>7} {:>7} {:>10} {:>9} {:>9} {:>9} {:>9} {:>11}",
            "store",
            "writers",
            "ops",
            "ops/s",
            "p50 ms",
            "p99 ms",
            "p99.9 ms",
            "max ms",
            "CPU us/op"
        );
        let dir = tempfile::tempdir().unwrap();
        let sqlite = format!("sqlite://{}/bench.db", dir.path().display());
        bench_backend("sqlite", &sqlite).await;
        match std::env::var("TEST_POSTGRES_URL") {
            Ok(admin) => bench_backend("postgres", &fresh_postgres(&admin).await).await,
            Err(_) => {
                println!("postgres   skipped: set TEST_POSTGRES_URL (scripts/services.sh does)")
            }
        }
    });
    // Both runtimes go outside any async context.
    drop(runtime);
    drop(background);
}

async fn bench_backend(name: &str, url: &str) {
    let store = Store::connect(&DatabaseUrl::parse(url).unwrap())
        .await
        .unwrap();
    store.migrate().await.unwrap();
    run(&store, "warmup", 4, 50).await;
    for (writers, per_writer) in [(1, OPS_ALONE), (32, OPS_PER_WRITER_OF_32)] {
        let cpu_before = process_cpu();
        let (elapsed, mut latencies) = run(&store, name, writers, per_writer).await;
        let cpu = process_cpu().saturating_sub(cpu_before);
        latencies.sort();
        let ops = latencies.len();
        println!(
            "{name:<10} {writers:>7} {ops:>7} {:>10.0} {:>9.3} {:>9.3} {:>9.3} {:>9.3} {:>11.1}",
            ops as f64 / elapsed.as_secs_f64(),
            millis(percentile(&latencies, 0.50)),
            millis(percentile(&latencies, 0.99)),
            millis(percentile(&latencies, 0.999)),
            millis(percentile(&latencies, 1.0)),
            cpu.as_secs_f64() * 1e6 / ops as f64,
        );
    }
    store.close().await;
}

/// `writers` tasks each record `per_writer` new deliveries; returns the wall time and
/// every operation's latency.
async fn run(
    store: &Store,
    tag: &str,
    writers: usize,
    per_writer: usize,
) -> (Duration, Vec<Duration>) {
    let started = Instant::now();
    let tasks = (0..writers).map(|w| {
        let store = store.clone();
        let tag = format!("{tag}-{writers}-{w}");
        tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(per_writer);
            for i in 0..per_writer {
                let trigger = trigger(&format!("{tag}-{i}"));
                let t = Instant::now();
                let recorded = store.record_trigger(trigger).await.unwrap();
                latencies.push(t.elapsed());
                assert!(matches!(recorded, Recorded::Created(_)));
            }
            latencies
        })
    });
    let mut all = Vec::with_capacity(writers * per_writer);
    for task in futures::future::join_all(tasks).await {
        all.extend(task.unwrap());
    }
    (started.elapsed(), all)
}

fn trigger(delivery: &str) -> Trigger {
    Trigger {
        thread: ThreadRef::Github {
            repo: RepoRef::parse("acme/app").unwrap(),
            issue: 1,
        },
        author: Author {
            id: "ada".into(),
            display_name: "Ada".into(),
        },
        task: "fix the flaky test in ci".into(),
        title: None,
        repo: Some(RepoRef::parse("acme/app").unwrap()),
        delivery: DeliveryId::parse(delivery).unwrap(),
        agent: None,
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[index]
}

/// CPU time this process (the store's threads included) has used: a figure the
/// host's share of a virtual machine's CPU changes much less than wall time.
fn process_cpu() -> Duration {
    // SAFETY: getrusage fills a local struct.
    let usage = unsafe {
        let mut usage = std::mem::zeroed::<libc::rusage>();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let micros = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
    Duration::from_micros(micros(usage.ru_utime) + micros(usage.ru_stime))
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// A new, empty database on the server, so runs never see each other's rows.
async fn fresh_postgres(admin: &str) -> String {
    sqlx::any::install_default_drivers();
    let name = format!("lucid_bench_{}", std::process::id());
    let mut conn = sqlx::AnyConnection::connect(admin).await.unwrap();
    for sql in [
        format!("DROP DATABASE IF EXISTS {name}"),
        format!("CREATE DATABASE {name}"),
    ] {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&mut conn)
            .await
            .unwrap();
    }
    let mut url = url::Url::parse(admin).unwrap();
    url.set_path(&name);
    url.to_string()
}
