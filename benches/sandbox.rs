//! Sandbox start-up and command overhead on the real Docker engine, 20+ runs each:
//! cold start (create + start, ready to exec), warm-pool acquire, and the round trip
//! of running `true`. Needs the engine and lucid-sandbox:latest (scripts/test makes
//! both). Run: `cargo bench --bench sandbox`.

use lucid::core::SessionId;
use lucid::sandbox::{
    CommandSpec, DockerEngine, DockerSandboxes, SandboxSettings, SandboxSpec, Sandboxes,
};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

const STARTS: usize = 20;
const COMMANDS: usize = 50;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let host =
            std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".into());
        let engine = Arc::new(DockerEngine::new(&host).unwrap());
        let workspaces = tempfile::tempdir().unwrap();
        let settings = |pool_size| SandboxSettings {
            spec: SandboxSpec::default(),
            workspaces: workspaces.path().to_owned(),
            pool_size,
            idle_timeout: Duration::from_secs(3600),
        };
        println!("sandbox             runs   p50 ms   p95 ms");

        let cold = DockerSandboxes::new(engine.clone(), settings(0));
        let mut times = Vec::new();
        for _ in 0..STARTS {
            let started = Instant::now();
            let sandbox = cold
                .create(SessionId::new(), &SandboxSpec::default())
                .await
                .unwrap();
            times.push(started.elapsed());
            sandbox.destroy().await.unwrap();
        }
        report("cold start", times);

        let warm = DockerSandboxes::new(engine.clone(), settings(1));
        let mut times = Vec::new();
        for _ in 0..STARTS {
            warm.fill_pool().await;
            let started = Instant::now();
            let sandbox = warm
                .create(SessionId::new(), &SandboxSpec::default())
                .await
                .unwrap();
            times.push(started.elapsed());
            sandbox.destroy().await.unwrap();
        }
        warm.drain_pool().await;
        report("warm acquire", times);

        let sandbox = cold
            .create(SessionId::new(), &SandboxSpec::default())
            .await
            .unwrap();
        let never = CancellationToken::new();
        let mut times = Vec::new();
        for _ in 0..COMMANDS {
            let started = Instant::now();
            sandbox
                .run(&CommandSpec::new("true"), None, &never)
                .await
                .unwrap();
            times.push(started.elapsed());
        }
        sandbox.destroy().await.unwrap();
        report("`true` round trip", times);
    });
}

fn report(what: &str, mut times: Vec<Duration>) {
    times.sort();
    let at = |p: f64| {
        let i = ((times.len() as f64 * p).ceil() as usize).clamp(1, times.len()) - 1;
        times[i].as_secs_f64() * 1000.0
    };
    println!(
        "{what:<18} {:>5} {:>8.1} {:>8.1}",
        times.len(),
        at(0.50),
        at(0.95)
    );
}
