//! What lucid adds to an external agent's run (ACP), in two figures.
//!
//! 1. Updates to the event log: the scripted agent (`lucid-acp-script --scenario
//!    burst`, tests/acp_script) writes `BENCH_UPDATES` (default 10,000) `session/update`
//!    lines, a tool call then its end in turn, each one event of the log (a command,
//!    then its output), and stamps each with CLOCK_MONOTONIC just before writing it.
//!    lucid's real [`AcpAgent`] runs it (`wire::incoming`, the ACP library's
//!    connection, the conversation loop, `Steps`, a SQLite `Store` on disk); a watcher
//!    of the store's live announcements (`Store::watch`, what the live pages wait on)
//!    takes the same clock as each event is announced. Latency = announced − stamped.
//!    Each run twice: paced at `BENCH_RATE` a second (default 1,000: each update alone,
//!    lucid's own latency) and as fast as the agent writes (throughput, and latency
//!    once queued). The agent runs on the host with its stdout a pipe (lucid's reading
//!    side alone), then in a real Docker sandbox (`BENCH_ACP_DOCKER=0` skips it)
//!    where its stdout also crosses the engine's attach stream. Then two of lucid's
//!    parts alone, for where the time goes: `wire::sort` of one line, and one
//!    `Store::append_event`.
//!
//! 2. The model gateway on a streamed answer: a local upstream (axum on loopback)
//!    streams a `BENCH_MB` (default 10) MB OpenAI-style SSE answer, one event a frame
//!    (`BENCH_SSE_TEXT`, default 64, characters of text each) with a usage event at
//!    the end; it is fetched `BENCH_RUNS` (default 20) times each way, in turn:
//!    straight from the upstream with its key, and through [`ModelGateway`] with a
//!    session's token. Printed: p50/p95 of the whole answer and of its first byte, the
//!    overhead, this process's CPU per answer (upstream, gateway and client all run in
//!    it); every answer is checked byte for byte, and the usage the gateway read.
//!
//! Both print the share of the machine's CPU its host took meanwhile (steal).
//! `BENCH_ACP=updates` or `gateway` runs one of the two. Run: `cargo bench --bench acp`.

#[allow(dead_code)]
mod common;

use async_trait::async_trait;
use axum::body::Body;
use axum::http::{HeaderMap, StatusCode, header};
use bytes::Bytes;
use common::{Usage, env_or, percentile};
use futures::StreamExt;
use lucid::agent::acp::gateways::Gateways;
use lucid::agent::acp::{AcpAgent, AcpSettings, Seen};
use lucid::agent::engine::Prices;
use lucid::agent::gateway::{KeyHeader, ModelGateway, Tokens, Upstream, UsageTap};
use lucid::agent::{AgentRunner, Job, JobEnd, Start, StepLog};
use lucid::config::{DatabaseUrl, ExternalAgent, ModelProvider, PermissionPolicy, ProviderKey};
use lucid::core::{Author, DeliveryId, EventBody, Session, SessionId, ThreadRef, Trigger};
use lucid::sandbox::{
    CapturedOutput, CommandResult, CommandSpec, DockerEngine, DockerSandboxes, FileEntry, Network,
    Outcome, OutputChunk, ProcessExit, ProcessHandle, ProcessSpec, Sandbox, SandboxError,
    SandboxProcess, SandboxSettings, SandboxSpec, Sandboxes, Workspace,
};
use lucid::store::{Recorded, Store};
use secrecy::SecretString;
use sha2::{Digest, Sha256};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

/// The scripted agent cargo built.
const ACP_SCRIPT: &str = env!("CARGO_BIN_EXE_lucid-acp-script");
/// Where the test image holds it (tests/it/acp_image.rs builds the same image).
const ACP_SCRIPT_IN_IMAGE: &str = "/usr/local/bin/lucid-acp-script";
const ACP_IMAGE_REPO: &str = "lucid-sandbox-acp";

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let which = std::env::var("BENCH_ACP").unwrap_or_default();
    runtime.block_on(async {
        if which.is_empty() || which == "updates" {
            updates::bench().await;
        }
        if which.is_empty() || which == "gateway" {
            gateway::bench().await;
        }
    });
}

/// CLOCK_MONOTONIC in nanoseconds, the clock the scripted agent stamps its lines with.
fn monotonic_ns() -> u64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the struct it is given.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
    now.tv_sec as u64 * 1_000_000_000 + now.tv_nsec as u64
}

/// Time this process's threads spent runnable but waiting for a CPU (the second
/// field of each thread's schedstat): what other processes on the machine, not steal,
/// cost it. Threads that have ended are not counted.
fn run_queue_wait() -> Duration {
    let mut waited = 0;
    for task in std::fs::read_dir("/proc/self/task")
        .into_iter()
        .flatten()
        .flatten()
    {
        let stat = std::fs::read_to_string(task.path().join("schedstat")).unwrap_or_default();
        waited += stat
            .split_whitespace()
            .nth(1)
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0);
    }
    Duration::from_nanos(waited)
}

/// The machine's load average over the last minute.
fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0)
}

fn micros(d: Option<Duration>) -> String {
    d.map_or("-".to_owned(), |d| format!("{:.0}", d.as_secs_f64() * 1e6))
}

mod updates {
    use super::*;

    /// Where the agent runs.
    #[derive(Clone, Copy, PartialEq)]
    enum Host {
        /// A process on the host, its stdio pipes.
        Pipe,
        /// In a Docker sandbox, through lucid's Docker sandbox.
        Docker,
    }

    impl Host {
        fn name(self) -> &'static str {
            match self {
                Host::Pipe => "host process, pipe",
                Host::Docker => "Docker sandbox",
            }
        }
    }

    /// What one run of the agent measured.
    struct Run {
        /// Stamp to announcement, sorted.
        latencies: Vec<Duration>,
        /// Updates a second, from the first stamp to the last announcement.
        rate: f64,
        /// This process's CPU (lucid, the watcher, in Docker the engine's stream).
        cpu: Duration,
        /// This process's threads' time waiting for a CPU.
        waited: Duration,
        stolen: f64,
        /// The machine's load average at the end.
        load: f64,
    }

    pub async fn bench() {
        let count = env_or("BENCH_UPDATES", 10_000.0) as u64;
        let paced = env_or("BENCH_RATE", 1_000.0);
        let dir = tempfile::Builder::new()
            .prefix("lucid-bench-acp")
            .tempdir_in("/var/tmp")
            .unwrap();
        let url =
            DatabaseUrl::parse(&format!("sqlite://{}/bench.db", dir.path().display())).unwrap();
        let store = Store::connect(&url).await.unwrap();
        store.migrate().await.unwrap();

        let mut hosts = vec![Host::Pipe];
        let docker = if env_or("BENCH_ACP_DOCKER", 1.0) != 0.0 {
            match docker_sandboxes(dir.path()).await {
                Ok(docker) => {
                    hosts.push(Host::Docker);
                    Some(docker)
                }
                Err(why) => {
                    println!("(no Docker sandbox run: {why})");
                    None
                }
            }
        } else {
            None
        };

        println!(
            "ACP updates to the event log: {count} tool-call updates a run (one event each), \
             SQLite store, stamp before the agent's write to the store's announcement"
        );
        println!(
            "  {:20} {:>9} {:>9} {:>7} {:>7} {:>7} {:>7} {:>8} {:>10} {:>11} {:>6} {:>5}",
            "agent",
            "paced at",
            "updates/s",
            "p50 µs",
            "p95 µs",
            "p99 µs",
            "p99.9",
            "max µs",
            "CPU µs/upd",
            "wait µs/upd",
            "steal",
            "load"
        );
        for host in hosts {
            for rate in [paced, 0.0] {
                let run = run(&store, host, docker.as_ref(), count, rate).await;
                let at = |p| percentile(&run.latencies, p);
                println!(
                    "  {:20} {:>9} {:>9.0} {:>7} {:>7} {:>7} {:>7} {:>8} {:>10.1} {:>11.1} {:>5.1}% {:>5.1}",
                    host.name(),
                    if rate > 0.0 {
                        format!("{rate:.0}/s")
                    } else {
                        "burst".to_owned()
                    },
                    run.rate,
                    micros(at(0.50)),
                    micros(at(0.95)),
                    micros(at(0.99)),
                    micros(at(0.999)),
                    micros(run.latencies.last().copied()),
                    run.cpu.as_secs_f64() * 1e6 / count as f64,
                    run.waited.as_secs_f64() * 1e6 / count as f64,
                    run.stolen * 100.0,
                    run.load,
                );
            }
        }
        parts(&store, count, paced).await;
    }

    /// The Docker sandboxes, with the test image holding the scripted agent.
    struct Docker {
        sandboxes: DockerSandboxes,
        image: String,
    }

    async fn docker_sandboxes(dir: &Path) -> Result<Docker, String> {
        let host =
            std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".into());
        let engine = Arc::new(DockerEngine::new(&host).map_err(|e| e.to_string())?);
        let image = acp_image(&engine).await?;
        let settings = SandboxSettings {
            spec: SandboxSpec::default(),
            workspaces: dir.join("workspaces"),
            pool_size: 0,
            idle_timeout: Duration::from_secs(30 * 60),
        };
        Ok(Docker {
            sandboxes: DockerSandboxes::new(engine, settings),
            image,
        })
    }

    /// The image tests/it/acp_image.rs builds (the same tag: the agent binary's hash).
    async fn acp_image(engine: &DockerEngine) -> Result<String, String> {
        use bollard::query_parameters::BuildImageOptionsBuilder;
        let binary = std::fs::read(ACP_SCRIPT).map_err(|e| format!("{ACP_SCRIPT}: {e}"))?;
        let hash = hex::encode(Sha256::digest(&binary));
        let tag = format!("{ACP_IMAGE_REPO}:{}", &hash[..12]);
        let docker = engine.client().await.map_err(|e| e.to_string())?;
        if docker.inspect_image(&tag).await.is_ok() {
            return Ok(tag);
        }
        let base = lucid::sandbox::image::DEFAULT_TAG;
        if docker.inspect_image(base).await.is_err() {
            return Err(format!(
                "no {base} image: `source scripts/services.sh; ensure_docker; ensure_sandbox_image`"
            ));
        }
        let dockerfile = format!(
            "FROM {base}\nLABEL lucid.test.acp-script.sha256={hash}\n\
             COPY lucid-acp-script {ACP_SCRIPT_IN_IMAGE}\n"
        );
        let mut archive = tar::Builder::new(Vec::new());
        for (name, bytes, mode) in [
            ("Dockerfile", dockerfile.as_bytes(), 0o644),
            ("lucid-acp-script", &binary[..], 0o755),
        ] {
            let mut header = tar::Header::new_gnu();
            header.set_size(bytes.len() as u64);
            header.set_mode(mode);
            header.set_mtime(0);
            header.set_cksum();
            archive.append_data(&mut header, name, bytes).unwrap();
        }
        let context = archive.into_inner().unwrap();
        let options = BuildImageOptionsBuilder::new()
            .t(&tag)
            .rm(true)
            .forcerm(true)
            .build();
        let mut output =
            docker.build_image(options, None, Some(bollard::body_full(context.into())));
        while let Some(message) = output.next().await {
            message.map_err(|e| format!("building {tag}: {e}"))?;
        }
        Ok(tag)
    }

    /// One run of the agent: `count` updates at `rate` a second (0: a burst).
    async fn run(store: &Store, host: Host, docker: Option<&Docker>, count: u64, rate: f64) -> Run {
        let session = new_session(store).await;
        let program = match host {
            Host::Pipe => ACP_SCRIPT,
            Host::Docker => ACP_SCRIPT_IN_IMAGE,
        };
        let command = [
            program,
            "--scenario",
            "burst",
            "--count",
            &count.to_string(),
            "--rate",
            &rate.to_string(),
        ];
        let agent = AcpAgent {
            agent: ExternalAgent {
                id: "script".into(),
                command: command.iter().map(|s| (*s).to_owned()).collect(),
                provider: ModelProvider::OpenAi,
            },
            settings: Arc::new(AcpSettings {
                permissions: PermissionPolicy::Allow,
                permission_timeout: Duration::from_secs(60),
                idle_timeout: Duration::from_secs(120),
                grace: Duration::from_secs(2),
                prices: Prices::default(),
                max_tokens: u64::MAX,
                max_cost_micros: u64::MAX,
            }),
            // Never reached: the burst asks no model.
            gateways: Gateways::new(&[ProviderKey {
                provider: ModelProvider::OpenAi,
                base_url: "http://127.0.0.1:9".into(),
                api_key: SecretString::from("sk-bench"),
            }]),
            store: store.clone(),
            seen: Arc::new(Seen::default()),
        };
        let home = tempfile::tempdir().unwrap();
        let sandbox: Arc<dyn Sandbox> = match host {
            Host::Pipe => Arc::new(HostSandbox::new(home.path())),
            Host::Docker => {
                let docker = docker.expect("Docker sandboxes");
                let spec = SandboxSpec::default()
                    .image(&docker.image)
                    .network(Network::Bridge);
                docker.sandboxes.create(session.id, &spec).await.unwrap()
            }
        };

        // Every announcement of the session, timed, until told to stop once none is
        // left to take.
        let mut watch = store.watch(session.id);
        let (stop, mut stopped) = oneshot::channel::<()>();
        let watcher = tokio::spawn(async move {
            let mut announced = Vec::with_capacity(count as usize + 16);
            loop {
                tokio::select! {
                    biased;
                    () = watch.announced() => announced.push(monotonic_ns()),
                    _ = &mut stopped => return announced,
                }
            }
        });

        let (_said, inbox) = mpsc::unbounded_channel();
        let (_answered, answers) = mpsc::unbounded_channel();
        let job = Job {
            session: &session,
            sandbox: &*sandbox,
            start: Start::Fresh {
                task: "a burst of updates".into(),
            },
            inbox,
            answers,
            steps: StepLog {
                store,
                session: session.id,
                checkpoints: None,
            },
            stop: CancellationToken::new(),
        };
        let usage = Usage::start(0);
        let waited = run_queue_wait();
        let end = agent.run(job).await.unwrap();
        let spent = usage.since();
        let waited = run_queue_wait().saturating_sub(waited);
        assert!(
            matches!(end, JobEnd::Finished { .. }),
            "the run ended {end:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        let _ = stop.send(());
        let announced = watcher.await.unwrap();
        if host == Host::Docker {
            sandbox.destroy().await.unwrap();
        }

        let Burst { stamps, after } = stamps(store, session.id, count).await;
        // One announcement per event appended, in order: any before the burst (the
        // agent's session saved) come first, and one for each event logged after it
        // (the agent's log, kept as the run ends) come last. Pairing the burst's
        // stamps with announcements counted from the end without those last ones
        // would pair each update with the next one's news: a pace (1 ms) too late.
        // A watcher that fell behind would have fewer.
        let events = stamps.len();
        assert!(
            announced.len() >= events + after,
            "{} announcements for {events} events and {after} after them: the watcher fell behind",
            announced.len()
        );
        let first = announced.len() - after - events;
        let mut latencies: Vec<Duration> = stamps
            .iter()
            .zip(&announced[first..])
            .map(|(&stamp, &seen)| {
                assert!(seen >= stamp, "an event announced before it was written");
                Duration::from_nanos(seen - stamp)
            })
            .collect();
        let rate = count as f64 / ((announced.last().unwrap() - stamps[0]) as f64 / 1e9);
        latencies.sort();
        Run {
            latencies,
            rate,
            cpu: spent.bench,
            waited,
            stolen: spent.stolen,
            load: load_average(),
        }
    }

    async fn new_session(store: &Store) -> Session {
        static RUNS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let trigger = Trigger {
            thread: ThreadRef::Web {
                id: format!("bench-{n}"),
            },
            author: Author {
                id: "bench".into(),
                display_name: "bench".into(),
            },
            task: "a burst of updates".into(),
            title: None,
            repo: None,
            delivery: DeliveryId::parse(&format!("bench-acp-{n}")).unwrap(),
            agent: None,
        };
        let Recorded::Created(session) = store.record_trigger(trigger).await.unwrap() else {
            unreachable!()
        };
        *session
    }

    /// The burst as logged.
    struct Burst {
        /// Each update's stamp, in the log's order.
        stamps: Vec<u64>,
        /// How many events the run logged after the burst.
        after: usize,
    }

    /// The burst in the log: every update must be there, once, and nothing amid it
    /// but the updates.
    async fn stamps(store: &Store, session: SessionId, count: u64) -> Burst {
        let mut stamps = Vec::with_capacity(count as usize);
        let mut logged_after = 0;
        let mut seq = 0;
        loop {
            let events = store.events_after(session, seq, 5_000).await.unwrap();
            let Some(last) = events.last() else { break };
            seq = last.seq;
            for event in events {
                let text = match &event.body {
                    EventBody::Command { command } => command,
                    EventBody::Output { text, .. } => text,
                    // The session queued, before the run.
                    _ if stamps.is_empty() => continue,
                    // The agent's stderr, kept when the run ends, after the burst.
                    EventBody::AgentLog { .. } if stamps.len() as u64 == count => {
                        logged_after += 1;
                        continue;
                    }
                    other => panic!("an event amid the burst: {other:?}"),
                };
                let mut words = text.split(' ').skip(1);
                let n: u64 = words.next().unwrap().parse().unwrap();
                assert_eq!(n, stamps.len() as u64, "updates out of order");
                stamps.push(words.next().unwrap().parse().unwrap());
            }
        }
        assert_eq!(stamps.len() as u64, count, "updates missing from the log");
        Burst {
            stamps,
            after: logged_after,
        }
    }

    /// Parts of the way alone, for where the time goes: `wire::sort` of one line in a
    /// loop; then, paced as the agent was, a line written to a pipe until
    /// `wire::incoming` yields it, and one `Store::append_event` until it returns.
    async fn parts(store: &Store, count: u64, rate: f64) {
        use lucid::agent::acp::wire;
        let line = |n: u64, stamp: u64| {
            format!(
                r#"{{"jsonrpc":"2.0","method":"session/update","params":{{"sessionId":"sess-1","update":{{"sessionUpdate":"tool_call","toolCallId":"b{n}","title":"burst","kind":"execute","status":"pending","rawInput":{{"command":"burst {n} {stamp}"}}}}}}}}"#
            )
        };
        let one = line(1, monotonic_ns());
        let started = Instant::now();
        for _ in 0..count {
            let sorted = wire::sort(std::hint::black_box(&one));
            assert!(matches!(sorted, wire::Line::Message(_)));
        }
        let sort = started.elapsed() / count as u32;

        // The pipe: written from a thread of its own, as the agent's process would.
        let (reader, writer) = std::io::pipe().unwrap();
        let reader =
            tokio::net::unix::pipe::Receiver::from_owned_fd(std::os::fd::OwnedFd::from(reader))
                .unwrap();
        let (broken, _broken) = mpsc::unbounded_channel();
        let (heard, _heard) = tokio::sync::watch::channel(tokio::time::Instant::now());
        let lines = wire::incoming(reader, broken, heard);
        let usage = Usage::start(0);
        let writing = std::thread::spawn(move || {
            use std::io::Write;
            let mut writer = writer;
            let start = Instant::now();
            for n in 0..count {
                let due = start + Duration::from_secs_f64(n as f64 / rate);
                std::thread::sleep(due.saturating_duration_since(Instant::now()));
                let text = format!("{}\n", line(n, monotonic_ns()));
                writer.write_all(text.as_bytes()).unwrap();
            }
        });
        let mut read: Vec<Duration> = lines
            .map(|line| {
                let now = monotonic_ns();
                let line = line.unwrap();
                let stamp: u64 = line
                    .rsplit_once(' ')
                    .and_then(|(_, rest)| rest.split('"').next()?.parse().ok())
                    .unwrap();
                Duration::from_nanos(now - stamp)
            })
            .collect()
            .await;
        writing.join().unwrap();
        let read_cpu = usage.since().bench;
        assert_eq!(read.len() as u64, count);
        read.sort();

        let session = new_session(store).await;
        let mut appends = Vec::with_capacity(count as usize);
        let usage = Usage::start(0);
        let start = Instant::now();
        for n in 0..count {
            let due = start + Duration::from_secs_f64(n as f64 / rate);
            tokio::time::sleep_until(due.into()).await;
            let body = EventBody::Command {
                command: format!("burst {n} 123456789012"),
            };
            let started = Instant::now();
            store.append_event(session.id, body).await.unwrap();
            appends.push(started.elapsed());
        }
        let append_cpu = usage.since().bench;
        appends.sort();
        let row = |what: &str, sorted: &[Duration], cpu: Duration| {
            println!(
                "    {what:46} p50 {:>5} µs  p99 {:>6} µs  max {:>6} µs  CPU {:>5.1} µs each",
                micros(percentile(sorted, 0.5)),
                micros(percentile(sorted, 0.99)),
                micros(sorted.last().copied()),
                cpu.as_secs_f64() * 1e6 / count as f64,
            );
        };
        println!("  parts alone ({count} each, paced at {rate:.0}/s but the first):");
        println!(
            "    {:46} {:.1} µs a line",
            "wire::sort, in a loop",
            sort.as_secs_f64() * 1e6
        );
        // The writing thread's CPU is in it too.
        row("pipe write to wire::incoming yielding it", &read, read_cpu);
        row(
            "Store::append_event (SQLite), call to return",
            &appends,
            append_cpu,
        );
    }

    /// Runs the agent as a process on the host: its stdio are pipes.
    struct HostSandbox {
        home: PathBuf,
        workspace: Workspace,
    }

    impl HostSandbox {
        fn new(home: &Path) -> HostSandbox {
            let user = lucid::sandbox::workspace::SandboxUser::for_this_process();
            HostSandbox {
                home: home.to_owned(),
                workspace: Workspace::create(home, "w", user).unwrap(),
            }
        }
    }

    #[async_trait]
    impl Sandbox for HostSandbox {
        fn id(&self) -> &str {
            "host"
        }
        fn workspace(&self) -> &Workspace {
            &self.workspace
        }
        async fn run(
            &self,
            _: &CommandSpec,
            _: Option<&mpsc::Sender<OutputChunk>>,
            _: &CancellationToken,
        ) -> Result<CommandResult, SandboxError> {
            Err(SandboxError::Unsupported("run a command"))
        }
        async fn spawn(
            &self,
            spec: &ProcessSpec,
            cancel: &CancellationToken,
        ) -> Result<SandboxProcess, SandboxError> {
            let mut child = tokio::process::Command::new(&spec.argv[0])
                .args(&spec.argv[1..])
                .env_clear()
                .env("PATH", std::env::var("PATH").unwrap_or_default())
                .env("HOME", &self.home)
                .envs(spec.env.iter().map(|(k, v)| (k, v)))
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .kill_on_drop(true)
                .spawn()
                .map_err(|e| SandboxError::InvalidProcess(e.to_string()))?;
            let stdin = child.stdin.take().unwrap();
            let stdout = child.stdout.take().unwrap();
            let mut stderr = child.stderr.take().unwrap();
            let (handle, reporter) = ProcessHandle::new();
            let cancel = cancel.clone();
            tokio::spawn(async move {
                let started = Instant::now();
                let read = tokio::spawn(async move {
                    let mut text = String::new();
                    let _ = stderr.read_to_string(&mut text).await;
                    text
                });
                let outcome = tokio::select! {
                    status = child.wait() => {
                        Outcome::Exited(status.ok().and_then(|s| s.code()).unwrap_or(-1).into())
                    }
                    () = reporter.kill_requested() => Outcome::Cancelled,
                    () = cancel.cancelled() => Outcome::Cancelled,
                };
                let _ = child.kill().await;
                let text = read.await.unwrap_or_default();
                reporter.report(Ok(ProcessExit {
                    outcome,
                    stderr: CapturedOutput {
                        total_bytes: text.len() as u64,
                        text,
                        cut_bytes: 0,
                    },
                    duration: started.elapsed(),
                }));
            });
            Ok(SandboxProcess {
                stdin: Box::pin(stdin),
                stdout: Box::pin(stdout),
                handle,
            })
        }
        async fn read_file(&self, _: &str) -> Result<Vec<u8>, SandboxError> {
            Ok(Vec::new())
        }
        async fn write_file(&self, _: &str, _: &[u8]) -> Result<(), SandboxError> {
            Ok(())
        }
        async fn list_files(&self, _: &str) -> Result<Vec<FileEntry>, SandboxError> {
            Ok(Vec::new())
        }
        async fn destroy(&self) -> Result<(), SandboxError> {
            Ok(())
        }
        fn host_address(&self) -> Option<std::net::IpAddr> {
            Some(Ipv4Addr::LOCALHOST.into())
        }
    }
}

mod gateway {
    use super::*;

    /// The provider's key, which only the gateway holds.
    const KEY: &str = "sk-upstream-bench";
    const PROMPT_TOKENS: u64 = 1_234;
    const REQUEST: &str = r#"{"model":"bench","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}"#;

    #[derive(Clone, Copy, PartialEq)]
    enum Way {
        Direct,
        Gateway,
    }

    pub async fn bench() {
        let size = (env_or("BENCH_MB", 10.0) * 1024.0 * 1024.0) as usize;
        let runs = env_or("BENCH_RUNS", 20.0) as usize;
        let text = env_or("BENCH_SSE_TEXT", 64.0) as usize;
        // One event a frame (as a model streams them, but back to back), then bulk.
        for per_frame in [1, env_or("BENCH_SSE_PER_FRAME", 64.0) as usize] {
            answers(size, runs, text, per_frame).await;
        }
    }

    async fn answers(size: usize, runs: usize, text: usize, per_frame: usize) {
        let (frames, whole, completion_tokens) = answer(size, text, per_frame);
        let expected = Tokens {
            input: PROMPT_TOKENS,
            output: completion_tokens,
        };
        // The gateway's one addition on the way, alone: reading the usage.
        let started = Instant::now();
        let mut tap = UsageTap::default();
        for frame in frames.iter() {
            tap.feed(frame);
        }
        assert_eq!(tap.finish(), expected);
        let tapped = started.elapsed();
        let frame_count = frames.len();
        let upstream = serve(frames).await;
        let (spent_tx, mut spent) = mpsc::unbounded_channel();
        let gateway = ModelGateway::bind(
            (Ipv4Addr::LOCALHOST, 0).into(),
            Upstream {
                base_url: format!("http://{upstream}"),
                api_key: SecretString::from(KEY),
                key_header: KeyHeader::Bearer,
            },
            spent_tx,
        )
        .await
        .unwrap();
        let session = SessionId::new();
        let token = gateway.open(session);
        let token = secrecy::ExposeSecret::expose_secret(&token).to_owned();
        let client = reqwest::Client::new();
        let url = |way| match way {
            Way::Direct => format!("http://{upstream}/v1/chat/completions"),
            Way::Gateway => format!("http://{}/v1/chat/completions", gateway.addr()),
        };
        let mut fetch_checked = async |way: Way| {
            let key = match way {
                Way::Direct => KEY,
                Way::Gateway => &token,
            };
            let fetched = fetch(&client, &url(way), key).await;
            assert!(fetched.body == whole, "the answer did not arrive identical");
            if way == Way::Gateway {
                let told = tokio::time::timeout(Duration::from_secs(5), spent.recv())
                    .await
                    .expect("the gateway told what the answer spent")
                    .unwrap();
                assert_eq!((told.session, told.tokens), (session, expected));
            }
            fetched
        };

        // One of each first, untimed: connections and allocator warm.
        for way in [Way::Direct, Way::Gateway] {
            fetch_checked(way).await;
        }
        let usage = Usage::start(0);
        let mut times = [Vec::new(), Vec::new()];
        let mut firsts = [Vec::new(), Vec::new()];
        let mut cpu = [Duration::ZERO; 2];
        for _ in 0..runs {
            for (i, way) in [Way::Direct, Way::Gateway].into_iter().enumerate() {
                let before = Usage::start(0);
                let fetched = fetch_checked(way).await;
                cpu[i] += before.since().bench;
                times[i].push(fetched.whole);
                firsts[i].push(fetched.first);
            }
        }
        let stolen = usage.since().stolen;
        for list in times.iter_mut().chain(firsts.iter_mut()) {
            list.sort();
        }

        let mb = whole.len() as f64 / (1024.0 * 1024.0);
        let events = completion_tokens + 2;
        println!(
            "model gateway: a {mb:.1} MB SSE answer ({events} events of ~{} bytes, usage last; \
             {per_frame} event(s) a frame, {frame_count} frames), {runs} runs each way, \
             loopback; every answer byte-identical, usage read each time",
            whole.len() as u64 / events
        );
        println!(
            "  {:18} {:>8} {:>8} {:>10} {:>14} {:>14} {:>13} {:>11}",
            "way",
            "p50 ms",
            "p95 ms",
            "MB/s @p50",
            "overhead @p50",
            "overhead @p95",
            "1st byte p50",
            "CPU ms/run"
        );
        let direct = (
            percentile(&times[0], 0.5).unwrap(),
            percentile(&times[0], 0.95).unwrap(),
        );
        for (i, way) in ["direct", "through the gateway"].into_iter().enumerate() {
            let p50 = percentile(&times[i], 0.5).unwrap();
            let p95 = percentile(&times[i], 0.95).unwrap();
            let over = |p: Duration, base: Duration| {
                if i == 0 {
                    "-".to_owned()
                } else {
                    format!(
                        "{:+.1} ms {:+.0}%",
                        (p.as_secs_f64() - base.as_secs_f64()) * 1e3,
                        (p.as_secs_f64() / base.as_secs_f64() - 1.0) * 100.0
                    )
                }
            };
            println!(
                "  {:18} {:>8.1} {:>8.1} {:>10.0} {:>14} {:>14} {:>10.2} ms {:>11.1}",
                way,
                p50.as_secs_f64() * 1e3,
                p95.as_secs_f64() * 1e3,
                mb / p50.as_secs_f64(),
                over(p50, direct.0),
                over(p95, direct.1),
                percentile(&firsts[i], 0.5).unwrap().as_secs_f64() * 1e3,
                cpu[i].as_secs_f64() * 1e3 / runs as f64,
            );
        }
        println!(
            "  overhead a frame @p50: {:.1} µs; UsageTap alone over the answer: {:.1} ms; \
             steal meanwhile: {:.1}%, load {:.1}",
            (percentile(&times[1], 0.5).unwrap().as_secs_f64() - direct.0.as_secs_f64()) * 1e6
                / frame_count as f64,
            tapped.as_secs_f64() * 1e3,
            stolen * 100.0,
            load_average(),
        );
    }

    /// The answer as the upstream sends it, `per_frame` SSE events a frame: chunks of
    /// `text` characters until `size` bytes, then the usage, then `[DONE]`. Also the
    /// whole of it, and its completion tokens (one a chunk).
    fn answer(size: usize, text: usize, per_frame: usize) -> (Arc<Vec<Bytes>>, Vec<u8>, u64) {
        let mut frames = Vec::new();
        let mut total = 0;
        let mut n: u64 = 0;
        while total < size {
            let words: String = (0..text)
                .map(|i| (b'a' + ((n as usize + i) % 26) as u8) as char)
                .collect();
            let event = format!(
                "data: {{\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\
                 \"created\":1700000000,\"model\":\"bench\",\"choices\":[{{\"index\":0,\
                 \"delta\":{{\"content\":\"{words}\"}},\"finish_reason\":null}}]}}\n\n"
            );
            total += event.len();
            frames.push(Bytes::from(event));
            n += 1;
        }
        frames.push(Bytes::from(format!(
            "data: {{\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\
             \"created\":1700000000,\"model\":\"bench\",\"choices\":[],\"usage\":\
             {{\"prompt_tokens\":{PROMPT_TOKENS},\"completion_tokens\":{n},\
             \"total_tokens\":{}}}}}\n\n",
            PROMPT_TOKENS + n
        )));
        frames.push(Bytes::from_static(b"data: [DONE]\n\n"));
        let whole = frames.concat();
        let frames = frames
            .chunks(per_frame)
            .map(|events| Bytes::from(events.concat()))
            .collect();
        (Arc::new(frames), whole, n)
    }

    /// The provider: `POST /v1/chat/completions` with its key streams the answer.
    async fn serve(frames: Arc<Vec<Bytes>>) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new().route(
            "/v1/chat/completions",
            axum::routing::post(move |headers: HeaderMap, _body: Bytes| {
                let frames = frames.clone();
                async move {
                    let authorization = headers.get(header::AUTHORIZATION);
                    if authorization.and_then(|v| v.to_str().ok()) != Some(&format!("Bearer {KEY}"))
                    {
                        return (StatusCode::UNAUTHORIZED, "wrong key").into_response();
                    }
                    let stream = futures::stream::iter(
                        (0..frames.len()).map(move |i| Ok::<_, std::io::Error>(frames[i].clone())),
                    );
                    axum::response::Response::builder()
                        .header(header::CONTENT_TYPE, "text/event-stream")
                        .header(header::CACHE_CONTROL, "no-cache")
                        .body(Body::from_stream(stream))
                        .unwrap()
                }
            }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await });
        addr
    }

    use axum::response::IntoResponse;

    struct Fetched {
        whole: Duration,
        first: Duration,
        body: Vec<u8>,
    }

    /// One answer, from sending the request to its last byte.
    async fn fetch(client: &reqwest::Client, url: &str, key: &str) -> Fetched {
        let started = Instant::now();
        let response = client
            .post(url)
            .bearer_auth(key)
            .header(header::CONTENT_TYPE, "application/json")
            .body(REQUEST)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{url}");
        let mut stream = response.bytes_stream();
        let mut body = Vec::with_capacity(16 << 20);
        let mut first = None;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.unwrap();
            first.get_or_insert_with(|| started.elapsed());
            body.extend_from_slice(&chunk);
        }
        Fetched {
            whole: started.elapsed(),
            first: first.unwrap_or_default(),
            body,
        }
    }
}
