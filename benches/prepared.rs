//! A session's start with a prepared sandbox versus running its setup, on the real
//! Docker engine: from asking for a sandbox to the sandbox ready for the agent (made,
//! the repository's files in its workspace, prepared). Three ways:
//!
//! - no setup: a plain sandbox (cold: no warm pool), for reference;
//! - setup run: every start has a new key, so the setup runs and is committed;
//! - prepared image reused: every start has the key of an image made before.
//!
//! The setup is a stand-in for installing dependencies: it writes `BENCH_HOME_MB`
//! (default 50) MB of incompressible data in 1,000 files under `$HOME/.cache` and
//! packs them into a gzip'd tarball in `$HOME`, so about twice that is kept in the
//! image (and copied into each reused sandbox's home volume). `BENCH_SETUPS` (default
//! 5) and `BENCH_STARTS` (default 20) set the runs. Every timing is printed with the
//! share of the machine's CPU the host took meanwhile (steal).
//!
//! Needs the engine and lucid-sandbox:latest (scripts/test makes both).
//! Run: `cargo bench --bench prepared`.

#[allow(dead_code)]
mod common;

use common::{Usage, env_or, latency_rows};
use lucid::core::SessionId;
use lucid::sandbox::{
    DockerEngine, DockerSandboxes, SandboxSettings, SandboxSpec, Sandboxes, Setup,
};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

const REPOSITORY: &str = "bench/prepared";

fn setup_script(home_mb: usize, nonce: &str) -> String {
    format!(
        "# {nonce}\n\
         set -e\n\
         mkdir -p ~/.cache/deps\n\
         python3 - <<'EOF'\n\
         import os\n\
         size = {home_mb} * 1024 * 1024 // 1000\n\
         for i in range(1000):\n\
         \x20   with open(os.path.expanduser(f'~/.cache/deps/pkg_{{i}}.whl'), 'wb') as f:\n\
         \x20       f.write(os.urandom(size))\n\
         EOF\n\
         tar -czf ~/deps.tar.gz -C ~/.cache deps\n\
         echo ready\n"
    )
}

#[tokio::main]
async fn main() {
    let home_mb = env_or("BENCH_HOME_MB", 50.0) as usize;
    let setups = env_or("BENCH_SETUPS", 5.0) as usize;
    let starts = env_or("BENCH_STARTS", 20.0) as usize;
    let host =
        std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".into());
    let engine = Arc::new(DockerEngine::new(&host).unwrap());
    let workspaces = tempfile::tempdir().unwrap();
    let spec = SandboxSpec::default();
    let sandboxes = DockerSandboxes::new(
        engine.clone(),
        SandboxSettings {
            spec: spec.clone(),
            workspaces: workspaces.path().to_owned(),
            pool_size: 0,
            idle_timeout: Duration::from_secs(3600),
        },
    );
    let never = CancellationToken::new();
    let run_nonce = uuid::Uuid::now_v7().simple().to_string();

    // A start: a sandbox, the repository's files in it, and (with a setup) prepared.
    let start = |nonce: Option<String>| {
        let (sandboxes, spec, never) = (&sandboxes, &spec, &never);
        async move {
            let started = Instant::now();
            let sandbox = sandboxes.create(SessionId::new(), spec).await.unwrap();
            let work_tree = sandbox.workspace().path().to_owned();
            std::fs::write(work_tree.join("app.py"), "print('hi')\n").unwrap();
            let mut prepared = None;
            if let Some(nonce) = nonce {
                let script = setup_script(home_mb, &nonce);
                std::fs::create_dir_all(work_tree.join(".lucid")).unwrap();
                std::fs::write(work_tree.join(".lucid/setup.sh"), &script).unwrap();
                sandbox.workspace().hand_over().unwrap();
                let key = hex_key(&format!("{REPOSITORY}\n{script}"));
                let setup = Setup {
                    repository: REPOSITORY.to_owned(),
                    key,
                    command: "bash .lucid/setup.sh".to_owned(),
                };
                prepared = Some(sandbox.prepare(&setup, None, never).await.unwrap());
            }
            let took = started.elapsed();
            if let Some(prepared) = &prepared
                && let Some(run) = &prepared.setup
            {
                assert!(run.output.text.contains("ready"), "{}", run.output.text);
            }
            (took, sandbox, prepared)
        }
    };

    let usage = Usage::start(0);
    let mut plain = Vec::new();
    for _ in 0..starts {
        let (took, sandbox, _) = start(None).await;
        plain.push(took);
        sandbox.destroy().await.unwrap();
    }
    let plain_steal = usage.since().stolen;

    let usage = Usage::start(0);
    let mut made = Vec::new();
    let mut setup_own = Vec::new();
    for i in 0..setups {
        let (took, sandbox, prepared) = start(Some(format!("{run_nonce}-{i}"))).await;
        let prepared = prepared.unwrap();
        assert!(!prepared.reused);
        made.push(took);
        setup_own.push(prepared.setup.unwrap().duration);
        sandbox.destroy().await.unwrap();
    }
    let made_steal = usage.since().stolen;

    let usage = Usage::start(0);
    let mut reused = Vec::new();
    let mut first_command = Vec::new();
    for _ in 0..starts {
        let (took, sandbox, prepared) = start(Some(format!("{run_nonce}-0"))).await;
        assert!(prepared.unwrap().reused);
        reused.push(took);
        let asked = Instant::now();
        let listed = sandbox
            .run(
                &lucid::sandbox::CommandSpec::new("ls ~/.cache/deps | wc -l"),
                None,
                &never,
            )
            .await
            .unwrap();
        first_command.push(asked.elapsed());
        assert_eq!(listed.output.text.trim(), "1000");
        sandbox.destroy().await.unwrap();
    }
    let reused_steal = usage.since().stolen;
    let kept = remove_bench_images(&engine).await;

    for times in [
        &mut plain,
        &mut made,
        &mut setup_own,
        &mut reused,
        &mut first_command,
    ] {
        times.sort();
    }
    println!(
        "session start, asked to ready for the agent ({home_mb} MB written by the setup, \
         {} MB kept in the image)",
        kept >> 20
    );
    let mut rows = Vec::new();
    rows.extend(latency_rows(
        &format!("no setup, {starts} starts"),
        &plain,
        &[50, 95],
    ));
    rows.push(("  steal meanwhile".to_owned(), percent(plain_steal)));
    rows.extend(latency_rows(
        &format!("setup run, {setups} starts"),
        &made,
        &[50, 95],
    ));
    rows.extend(latency_rows("  of it the script itself", &setup_own, &[50]));
    rows.push(("  steal meanwhile".to_owned(), percent(made_steal)));
    rows.extend(latency_rows(
        &format!("prepared image reused, {starts} starts"),
        &reused,
        &[50, 95],
    ));
    rows.extend(latency_rows(
        "  then its first command",
        &first_command,
        &[50, 95],
    ));
    rows.push(("  steal meanwhile".to_owned(), percent(reused_steal)));
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (name, value) in rows {
        println!("  {name:width$}  {value}");
    }
}

fn percent(share: f64) -> String {
    format!("{:.1}%", share * 100.0)
}

fn hex_key(text: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(text.as_bytes()))
}

/// Removes the bench's prepared images; answers the bytes one of them kept.
async fn remove_bench_images(engine: &DockerEngine) -> u64 {
    let docker = engine.client().await.unwrap();
    let filters = std::collections::HashMap::from([(
        "label".to_owned(),
        vec![format!("lucid.prepared.repository={REPOSITORY}")],
    )]);
    let images = docker
        .list_images(Some(bollard::query_parameters::ListImagesOptions {
            filters: Some(filters),
            ..Default::default()
        }))
        .await
        .unwrap();
    let kept = images
        .iter()
        .filter_map(|image| image.labels.get("lucid.prepared.bytes")?.parse().ok())
        .max()
        .unwrap_or(0);
    for image in images {
        let force = bollard::query_parameters::RemoveImageOptions {
            force: true,
            ..Default::default()
        };
        let _ = docker.remove_image(&image.id, Some(force), None).await;
    }
    kept
}
