//! What a checkpoint costs after a step, in a work tree of `BENCH_FILES` files
//! (default 10,000, in 100 directories, about 1 KB each): a step that changed nothing,
//! and a step that changed one file, each `BENCH_STEPS` times (default 30). The first
//! checkpoint (the whole tree hashed once) is timed too.
//!
//! Every timing is printed with the share of the machine's CPU the host took meanwhile
//! (steal), which no code here can help.
//!
//! Run: `cargo bench --bench checkpoints`.

#[allow(dead_code)]
mod common;

use common::{Usage, env_or, latency_rows};
use lucid::forge::checkpoint::Checkpoints;
use std::time::Instant;

#[tokio::main]
async fn main() {
    let files = env_or("BENCH_FILES", 10_000.0) as usize;
    let steps = env_or("BENCH_STEPS", 30.0) as usize;
    let work = tempfile::tempdir().unwrap();
    let git = tempfile::tempdir().unwrap();
    let line = "let value = compute(input, &settings).unwrap_or_default();\n".repeat(16);
    for i in 0..files {
        let dir = work.path().join(format!("src/module_{}", i % 100));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("file_{i}.rs")), format!("// {i}\n{line}")).unwrap();
    }
    let checkpoints = Checkpoints::new(&git.path().join("checkpoints"), work.path());

    let usage = Usage::start(0);
    let started = Instant::now();
    checkpoints.start().await.unwrap();
    let first = started.elapsed();

    let mut unchanged = Vec::new();
    for _ in 0..steps {
        let started = Instant::now();
        assert!(checkpoints.record("nothing").await.unwrap().is_none());
        unchanged.push(started.elapsed());
    }
    let mut changed = Vec::new();
    for step in 0..steps {
        let path = work
            .path()
            .join(format!("src/module_{}/file_{step}.rs", step % 100));
        std::fs::write(&path, format!("// changed in step {step}\n{line}")).unwrap();
        let started = Instant::now();
        let checkpoint = checkpoints.record("one file").await.unwrap().unwrap();
        changed.push(started.elapsed());
        assert_eq!(checkpoint.changes.len(), 1);
    }
    let stolen = usage.since().stolen;
    unchanged.sort();
    changed.sort();

    println!("checkpoints of a {files}-file work tree, {steps} steps each");
    let mut rows = vec![(
        "first checkpoint, the whole tree (ms)".to_owned(),
        format!("{:.1}", first.as_secs_f64() * 1e3),
    )];
    rows.extend(latency_rows(
        "a step that changed nothing",
        &unchanged,
        &[50, 95],
    ));
    rows.extend(latency_rows(
        "a step that changed one file",
        &changed,
        &[50, 95],
    ));
    rows.push((
        "steal meanwhile".to_owned(),
        format!("{:.1}%", stolen * 100.0),
    ));
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (name, value) in rows {
        println!("  {name:width$}  {value}");
    }
}
