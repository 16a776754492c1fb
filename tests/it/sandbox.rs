//! Sandboxes on the real Docker engine that scripts/test starts, from the image it
//! builds (lucid-sandbox:latest).

use crate::harness::{docker_host, within};
use lucid::core::SessionId;
use lucid::sandbox::{
    CommandSpec, DockerEngine, DockerSandboxes, Network, Outcome, OutputChunk, ProcessSpec,
    Sandbox, SandboxError, SandboxProcess, SandboxSettings, SandboxSpec, Sandboxes,
};
use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// How long a memory hog may take to be killed by the kernel (see its test).
const OOM_PATIENCE: Duration = Duration::from_secs(90);

/// Asks for 1 GiB at once. `MAP_POPULATE` faults every page in inside the kernel, so
/// the cgroup's reclaim finds nothing to take but the hog's own memory and the OOM
/// killer comes at once. A hog that touches its pages from user space (`bytearray`)
/// keeps refaulting python's own code between pages, and each refault counts as
/// reclaim progress: on a cold page cache that has delayed the kill past 90 s.
const HOG: &str = "import mmap; mmap.mmap(-1, 1 << 30, \
    flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | mmap.MAP_POPULATE)";

struct Rig {
    sandboxes: DockerSandboxes,
    engine: Arc<DockerEngine>,
    _workspaces: tempfile::TempDir,
}

fn rig(pool_size: usize) -> Rig {
    let workspaces = tempfile::tempdir().unwrap();
    let engine = Arc::new(DockerEngine::new(&docker_host()).unwrap());
    let settings = SandboxSettings {
        spec: SandboxSpec::default(),
        workspaces: workspaces.path().to_owned(),
        pool_size,
        idle_timeout: Duration::from_secs(30 * 60),
    };
    Rig {
        sandboxes: DockerSandboxes::new(engine.clone(), settings),
        engine,
        _workspaces: workspaces,
    }
}

impl Rig {
    async fn sandbox(&self, spec: SandboxSpec) -> Arc<dyn Sandbox> {
        within("a sandbox", self.sandboxes.create(SessionId::new(), &spec))
            .await
            .unwrap()
    }

    async fn container_exists(&self, id: &str) -> bool {
        let docker = self.engine.client().await.unwrap();
        docker.inspect_container(id, None).await.is_ok()
    }
}

async fn run(sandbox: &dyn Sandbox, command: &str) -> lucid::sandbox::CommandResult {
    let spec = CommandSpec::new(command).timeout(Duration::from_secs(60));
    within(command, sandbox.run(&spec, None, &CancellationToken::new()))
        .await
        .unwrap()
}

/// The only environment variables a sandbox's commands and processes see: the fixed
/// ones lucid sets, and what a shell adds.
const SANDBOX_ENV: &[&str] = &[
    "PATH",
    "HOME",
    "LANG",
    "TERM",
    "PYTHONDONTWRITEBYTECODE",
    "PWD",
    "SHLVL",
    "_",
    "HOSTNAME",
    "OLDPWD",
];

#[tokio::test(flavor = "multi_thread")]
async fn output_streams_live_in_the_order_written_with_the_exit_code() {
    let rig = rig(0);
    let sandbox = rig.sandbox(SandboxSpec::default()).await;
    let (tx, mut rx) = mpsc::channel::<OutputChunk>(64);
    let command = CommandSpec::new(
        "echo first; while [ ! -f /tmp/go ]; do sleep 0.05; done; \
         for i in 1 2 3; do echo out$i; echo err$i >&2; done; exit 3",
    );
    let running = {
        let sandbox = sandbox.clone();
        tokio::spawn(async move {
            sandbox
                .run(&command, Some(&tx), &CancellationToken::new())
                .await
        })
    };
    // The first line arrives while the command is still waiting: output is live.
    let first = within("the first output", rx.recv()).await.unwrap();
    assert_eq!(first.bytes, b"first\n");
    assert!(!running.is_finished());
    sandbox.write_file("/tmp/go", b"").await.unwrap();

    let result = within("the command", running).await.unwrap().unwrap();
    assert_eq!(result.outcome, Outcome::Exited(3));
    let mut rest = String::new();
    while let Some(chunk) = rx.recv().await {
        rest.push_str(&String::from_utf8_lossy(&chunk.bytes));
    }
    assert_eq!(rest, "out1\nerr1\nout2\nerr2\nout3\nerr3\n");
    assert_eq!(
        result.output.text,
        "first\nout1\nerr1\nout2\nerr2\nout3\nerr3\n"
    );
    sandbox.destroy().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_command_past_its_timeout_is_killed_with_its_children() {
    let rig = rig(0);
    let sandbox = rig.sandbox(SandboxSpec::default()).await;
    let spec =
        CommandSpec::new("sleep 300 & sleep 301; echo never").timeout(Duration::from_secs(1));
    let started = Instant::now();
    let result = within(
        "the timeout",
        sandbox.run(&spec, None, &CancellationToken::new()),
    )
    .await
    .unwrap();
    assert_eq!(result.outcome, Outcome::TimedOut(Duration::from_secs(1)));
    assert!(started.elapsed() < Duration::from_secs(15));
    assert!(!result.output.text.contains("never"));
    // The bracket keeps the pattern from matching this probe's own command line.
    let left = run(&*sandbox, "pgrep -c -f 'sleep 30[01]' || true").await;
    assert_eq!(
        left.output.text.trim(),
        "0",
        "the command's children survived"
    );
    sandbox.destroy().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_quiet_command_and_a_cancelled_one_are_told_apart() {
    let rig = rig(0);
    let sandbox = rig.sandbox(SandboxSpec::default()).await;
    let quiet = CommandSpec::new("echo hi; sleep 300").no_output_timeout(Duration::from_secs(1));
    let result = within(
        "quiet",
        sandbox.run(&quiet, None, &CancellationToken::new()),
    )
    .await
    .unwrap();
    assert_eq!(result.outcome, Outcome::NoOutputFor(Duration::from_secs(1)));
    assert_eq!(result.output.text, "hi\n");

    let cancel = CancellationToken::new();
    let long = CommandSpec::new("sleep 300");
    let running = {
        let (sandbox, cancel) = (sandbox.clone(), cancel.clone());
        tokio::spawn(async move { sandbox.run(&long, None, &cancel).await })
    };
    cancel.cancel();
    let started = Instant::now();
    let result = within("cancel", running).await.unwrap().unwrap();
    assert_eq!(result.outcome, Outcome::Cancelled);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "stop took {:?}",
        started.elapsed()
    );
    sandbox.destroy().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_memory_hog_is_reported_as_out_of_memory() {
    let rig = rig(0);
    let sandbox = rig
        .sandbox(SandboxSpec::default().memory_bytes(128 << 20))
        .await;
    let result = run(&*sandbox, &format!("python3 -c '{HOG}'")).await;
    assert_eq!(
        result.outcome,
        Outcome::OutOfMemory,
        "{}",
        result.output.text
    );
    // An ordinary failure afterwards is not mistaken for another OOM.
    assert_eq!(
        run(&*sandbox, "kill -KILL $$").await.outcome,
        Outcome::Exited(137)
    );
    sandbox.destroy().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fork_bomb_hits_the_pids_limit_and_the_host_stays_healthy() {
    let rig = rig(0);
    let sandbox = rig.sandbox(SandboxSpec::default().pids_limit(128)).await;
    let bomb = CommandSpec::new("bomb() { bomb | bomb & }; bomb; sleep 300")
        .timeout(Duration::from_secs(3));
    let result = within(
        "the bomb",
        sandbox.run(&bomb, None, &CancellationToken::new()),
    )
    .await;
    match result {
        Ok(result) => assert_eq!(result.outcome, Outcome::TimedOut(Duration::from_secs(3))),
        // Killing the container outright is also a stop.
        Err(e) => assert!(
            matches!(e, SandboxError::Gone(_) | SandboxError::Docker(_)),
            "{e}"
        ),
    }
    // The host can still start processes and the engine still answers.
    assert!(
        std::process::Command::new("true")
            .status()
            .unwrap()
            .success()
    );
    within("the engine", rig.engine.probe()).await.unwrap();
    let fresh = rig.sandbox(SandboxSpec::default()).await;
    assert_eq!(run(&*fresh, "echo alive").await.output.text, "alive\n");
    sandbox.destroy().await.unwrap();
    fresh.destroy().await.unwrap();
}

/// The address a sandbox on Docker's bridge reaches the host at: the gateway of its
/// default route. The engine's own view is not enough: Docker 20.10's default bridge
/// reports only its subnet (`"Config": [{"Subnet": "172.17.0.0/16"}]`), no gateway.
async fn bridge_gateway(on_the_bridge: &dyn Sandbox) -> Ipv4Addr {
    let routes = run(on_the_bridge, "cat /proc/net/route").await.output.text;
    default_gateway(&routes).unwrap_or_else(|| panic!("no default route in:\n{routes}"))
}

/// The default route's gateway in `/proc/net/route`, where an address is the hex of
/// its bytes (network order) read as a native-endian number.
fn default_gateway(routes: &str) -> Option<Ipv4Addr> {
    routes.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.get(1) != Some(&"00000000") {
            return None;
        }
        let gateway = u32::from_str_radix(fields.get(2)?, 16).ok()?;
        Some(Ipv4Addr::from(gateway.to_ne_bytes())).filter(|ip| !ip.is_unspecified())
    })
}

#[cfg(target_endian = "little")]
#[test]
fn the_default_gateway_is_read_from_the_route_table() {
    let routes = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
                  eth0\t0011AC00\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n\
                  eth0\t00000000\t010011AC\t0003\t0\t0\t0\t00000000\t0\t0\t0\n";
    assert_eq!(default_gateway(routes), Some(Ipv4Addr::new(172, 17, 0, 1)));
    assert_eq!(
        default_gateway(&routes[..routes.rfind("eth0").unwrap()]),
        None
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn with_the_network_off_the_sandbox_cannot_reach_the_host() {
    let rig = rig(0);
    let listener = tokio::net::TcpListener::bind("0.0.0.0:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let on = rig
        .sandbox(SandboxSpec::default().network(Network::Bridge))
        .await;
    let gateway = bridge_gateway(&*on).await;
    let probe =
        format!("timeout 5 bash -c 'echo hi > /dev/tcp/{gateway}/{port}' && echo connected");

    let off = rig.sandbox(SandboxSpec::default()).await;
    let result = run(&*off, &probe).await;
    assert_ne!(result.outcome, Outcome::Exited(0), "{}", result.output.text);
    assert!(!result.output.text.contains("connected"));
    let interfaces = run(&*off, "ls /sys/class/net").await.output.text;
    assert_eq!(interfaces.trim(), "lo");

    // The same probe with the network on does connect: the test can fail.
    let accepted = tokio::spawn(async move { listener.accept().await.is_ok() });
    let result = run(&*on, &probe).await;
    assert_eq!(result.outcome, Outcome::Exited(0), "{}", result.output.text);
    assert!(within("the connection", accepted).await.unwrap());
    off.destroy().await.unwrap();
    on.destroy().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_sandbox_user_is_not_root_and_holds_no_privilege_or_secret() {
    let rig = rig(0);
    let sandbox = rig.sandbox(SandboxSpec::default()).await;
    let uid = run(&*sandbox, "id -u").await.output.text;
    assert_ne!(uid.trim(), "0");
    assert_eq!(
        run(&*sandbox, "grep CapEff /proc/self/status")
            .await
            .output
            .text
            .split_whitespace()
            .nth(1),
        Some("0000000000000000")
    );
    let chown = run(&*sandbox, "touch /workspace/f && chown 0:0 /workspace/f").await;
    assert_ne!(chown.outcome, Outcome::Exited(0));
    let mount = run(&*sandbox, "mkdir -p /tmp/m && mount -t tmpfs none /tmp/m").await;
    assert_ne!(mount.outcome, Outcome::Exited(0));
    let write_root = run(&*sandbox, "touch /etc/lucid-was-here").await;
    assert_ne!(
        write_root.outcome,
        Outcome::Exited(0),
        "the root filesystem is writable"
    );
    assert_eq!(
        run(&*sandbox, "test -S /var/run/docker.sock").await.outcome,
        Outcome::Exited(1)
    );

    // Nothing of lucid's environment is inside: only the names lucid sets.
    for environ in ["/proc/self/environ", "/proc/1/environ"] {
        let env = run(
            &*sandbox,
            &format!("tr '\\0' '\\n' < {environ} | cut -d= -f1 | sort"),
        )
        .await;
        let names: HashSet<&str> = env.output.text.lines().collect();
        let allowed: HashSet<&str> = SANDBOX_ENV.iter().copied().collect();
        assert!(names.is_subset(&allowed), "{environ} holds {names:?}");
    }
    sandbox.destroy().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn files_cross_between_host_and_sandbox_both_ways() {
    let rig = rig(0);
    let sandbox = rig.sandbox(SandboxSpec::default()).await;
    let host_side = sandbox.workspace().path().to_owned();
    std::fs::write(host_side.join("from-host.txt"), "written on the host\n").unwrap();
    sandbox.workspace().hand_over().unwrap();
    assert_eq!(
        run(&*sandbox, "cat /workspace/from-host.txt")
            .await
            .output
            .text,
        "written on the host\n"
    );
    run(
        &*sandbox,
        "echo written inside > /workspace/from-inside.txt && echo more >> /workspace/from-host.txt",
    )
    .await;
    assert_eq!(
        std::fs::read_to_string(host_side.join("from-inside.txt")).unwrap(),
        "written inside\n"
    );
    assert_eq!(
        std::fs::read_to_string(host_side.join("from-host.txt")).unwrap(),
        "written on the host\nmore\n"
    );

    sandbox
        .write_file("/workspace/src/new.rs", b"fn main() {}\n")
        .await
        .unwrap();
    assert_eq!(
        sandbox.read_file("/workspace/src/new.rs").await.unwrap(),
        b"fn main() {}\n"
    );
    assert_eq!(
        std::fs::read(host_side.join("src/new.rs")).unwrap(),
        b"fn main() {}\n"
    );
    let names: Vec<String> = sandbox
        .list_files("/workspace")
        .await
        .unwrap()
        .into_iter()
        .map(|e| format!("{}{}", e.name, if e.is_dir { "/" } else { "" }))
        .collect();
    assert_eq!(names, ["from-host.txt", "from-inside.txt", "src/"]);
    let missing = sandbox.read_file("/workspace/nope").await.unwrap_err();
    assert_eq!(
        missing.to_string(),
        "/workspace/nope: No such file or directory"
    );
    sandbox.destroy().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn destroy_leaves_no_container_volume_or_workspace() {
    let rig = rig(0);
    let docker = rig.engine.client().await.unwrap();
    let volumes = |docker: bollard::Docker| async move {
        docker
            .list_volumes(None::<bollard::query_parameters::ListVolumesOptions>)
            .await
            .unwrap()
            .volumes
            .unwrap_or_default()
            .len()
    };
    let volumes_before = volumes(docker.clone()).await;
    let sandbox = rig.sandbox(SandboxSpec::default()).await;
    run(&*sandbox, "echo x > /workspace/x").await;
    let workspace = sandbox.workspace().path().to_owned();
    sandbox.destroy().await.unwrap();
    sandbox.destroy().await.unwrap();
    assert!(!rig.container_exists(sandbox.id()).await);
    assert!(!workspace.exists());
    assert_eq!(volumes(docker.clone()).await, volumes_before);
    let after = sandbox
        .run(&CommandSpec::new("true"), None, &CancellationToken::new())
        .await;
    assert!(matches!(after, Err(SandboxError::Gone(_))));
}

#[tokio::test(flavor = "multi_thread")]
async fn orphans_of_a_killed_lucid_are_reaped_at_the_next_start() {
    let killed = rig(0);
    let orphan = killed.sandbox(SandboxSpec::default()).await;
    let still_running = killed.sandbox(SandboxSpec::default()).await;
    let running_session = {
        let docker = killed.engine.client().await.unwrap();
        let inspect = docker
            .inspect_container(still_running.id(), None)
            .await
            .unwrap();
        inspect.config.unwrap().labels.unwrap()["lucid.session"].clone()
    };
    // The next lucid knows nothing of the first one's sandboxes; its store says
    // which session is still running somewhere.
    let next = DockerSandboxes::new(killed.engine.clone(), killed.sandboxes.settings().clone());
    next.reap_orphans(|session| session == running_session)
        .await
        .unwrap();
    assert!(!killed.container_exists(orphan.id()).await);
    assert!(!orphan.workspace().path().exists());
    assert!(killed.container_exists(still_running.id()).await);
    still_running.destroy().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn idle_sandboxes_are_reaped() {
    let rig = rig(0);
    let sandbox = rig.sandbox(SandboxSpec::default()).await;
    assert_eq!(rig.sandboxes.reap_expired(Instant::now()).await, 0);
    let later = Instant::now() + Duration::from_secs(31 * 60);
    assert_eq!(rig.sandboxes.reap_expired(later).await, 1);
    assert!(!rig.container_exists(sandbox.id()).await);
}

#[tokio::test(flavor = "multi_thread")]
async fn pooled_containers_go_to_one_session_each_and_are_never_reused() {
    let rig = rig(2);
    within("the pool", rig.sandboxes.fill_pool()).await;
    assert_eq!(rig.sandboxes.warm_count().await, 2);
    let creations = (0..6).map(|_| {
        let sandboxes = rig.sandboxes.clone();
        tokio::spawn(async move {
            sandboxes
                .create(SessionId::new(), &SandboxSpec::default())
                .await
                .unwrap()
        })
    });
    let handed: Vec<Arc<dyn Sandbox>> =
        within("six sandboxes", futures::future::join_all(creations))
            .await
            .into_iter()
            .map(Result::unwrap)
            .collect();
    let ids: HashSet<String> = handed.iter().map(|s| s.id().to_owned()).collect();
    assert_eq!(ids.len(), 6, "two sessions shared a container");
    for sandbox in &handed {
        sandbox.destroy().await.unwrap();
    }
    within("the refill", rig.sandboxes.fill_pool()).await;
    let next = rig.sandbox(SandboxSpec::default()).await;
    assert!(
        !ids.contains(next.id()),
        "a destroyed session's container came back"
    );
    next.destroy().await.unwrap();
    rig.sandboxes.drain_pool().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_image_says_how_to_build_one() {
    let rig = rig(0);
    let spec = SandboxSpec::default().image("lucid-no-such-image:never");
    let err = rig
        .sandboxes
        .create(SessionId::new(), &spec)
        .await
        .err()
        .unwrap();
    assert!(matches!(err, SandboxError::ImageMissing { .. }), "{err}");
    assert!(err.to_string().contains("lucid sandbox build-image"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_command_that_leaves_a_process_running_still_ends_when_it_ends() {
    let rig = rig(0);
    let sandbox = rig.sandbox(SandboxSpec::default()).await;
    let spec = CommandSpec::new("sleep 300 & echo started").timeout(Duration::from_secs(60));
    let started = Instant::now();
    let result = within(
        "the command",
        sandbox.run(&spec, None, &CancellationToken::new()),
    )
    .await
    .unwrap();
    assert_eq!(result.outcome, Outcome::Exited(0));
    assert_eq!(result.output.text, "started\n");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    sandbox.destroy().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sandbox_past_its_lifetime_is_destroyed_even_while_busy() {
    let rig = rig(0);
    let sandbox = rig
        .sandbox(SandboxSpec::default().lifetime(Duration::from_secs(60)))
        .await;
    run(&*sandbox, "true").await;
    // Used a moment ago, so not idle; but its wall-clock limit has passed.
    let past_lifetime = Instant::now() + Duration::from_secs(61);
    assert_eq!(rig.sandboxes.reap_expired(past_lifetime).await, 1);
    assert!(!rig.container_exists(sandbox.id()).await);
    let after = sandbox
        .run(&CommandSpec::new("true"), None, &CancellationToken::new())
        .await;
    assert!(matches!(after, Err(SandboxError::Gone(_))), "{after:?}");
}

async fn spawn(sandbox: &dyn Sandbox, spec: &ProcessSpec) -> SandboxProcess {
    within(
        "the process to start",
        sandbox.spawn(spec, &CancellationToken::new()),
    )
    .await
    .unwrap()
}

/// How many processes in the sandbox have exactly this command line.
async fn count(sandbox: &dyn Sandbox, command_line: &str) -> usize {
    // Anchored: the probe's own command line holds the pattern too, but not at its start.
    let probe = format!("pgrep -c -f '^{command_line}$' || true");
    let counted = run(sandbox, &probe).await.output.text;
    counted
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("{counted:?}"))
}

/// An agent's loop in miniature: one answer per line, until stdin ends.
const ECHO: &str = r#"
import sys
for line in sys.stdin:
    print("echo " + line.rstrip("\n"), flush=True)
print("bye")
sys.exit(7)
"#;

#[tokio::test(flavor = "multi_thread")]
async fn a_process_answers_line_by_line_and_ends_with_its_code_when_stdin_closes() {
    let rig = rig(0);
    let sandbox = rig.sandbox(SandboxSpec::default()).await;
    let SandboxProcess {
        mut stdin,
        stdout,
        handle,
    } = spawn(&*sandbox, &ProcessSpec::new(["python3", "-u", "-c", ECHO])).await;
    let mut lines = BufReader::new(stdout).lines();
    // Each answer comes before the next message is sent: the streams are live.
    for id in 0..5 {
        let message = format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"ping"}}"#);
        stdin
            .write_all(format!("{message}\n").as_bytes())
            .await
            .unwrap();
        stdin.flush().await.unwrap();
        let answer = within("an answer", lines.next_line()).await.unwrap();
        assert_eq!(answer, Some(format!("echo {message}")));
    }
    assert!(handle.try_wait().is_none(), "it ended while reading");

    drop(stdin);
    let exit = within("the exit", handle.wait()).await.unwrap();
    assert_eq!(exit.outcome, Outcome::Exited(7), "{}", exit.stderr.text);
    assert_eq!(
        within("the last line", lines.next_line()).await.unwrap(),
        Some("bye".to_owned())
    );
    assert_eq!(within("the end", lines.next_line()).await.unwrap(), None);
    sandbox.destroy().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_process_stdout_holds_only_stdout_and_its_stderr_is_kept_apart() {
    let rig = rig(0);
    let sandbox = rig.sandbox(SandboxSpec::default()).await;
    let both = ProcessSpec::new([
        "bash",
        "-c",
        "for i in 1 2 3; do echo out$i; echo err$i >&2; done; exit 3",
    ]);
    let SandboxProcess {
        stdin,
        mut stdout,
        handle,
    } = spawn(&*sandbox, &both).await;
    drop(stdin);
    let mut out = String::new();
    within("stdout", stdout.read_to_string(&mut out))
        .await
        .unwrap();
    assert_eq!(out, "out1\nout2\nout3\n");
    let exit = within("the exit", handle.wait()).await.unwrap();
    assert_eq!(exit.outcome, Outcome::Exited(3));
    assert_eq!(exit.stderr.text, "err1\nerr2\nerr3\n");

    // Stderr is kept within its cap, and a lot of it blocks nothing.
    let noisy = ProcessSpec::new([
        "bash",
        "-c",
        "head -c 1000000 /dev/zero | tr '\\0' e >&2; echo done",
    ])
    .stderr_cap(10);
    let SandboxProcess {
        stdin,
        mut stdout,
        handle,
    } = spawn(&*sandbox, &noisy).await;
    drop(stdin);
    let mut out = String::new();
    within("stdout", stdout.read_to_string(&mut out))
        .await
        .unwrap();
    assert_eq!(out, "done\n");
    let exit = within("the exit", handle.wait()).await.unwrap();
    assert_eq!(exit.outcome, Outcome::Exited(0));
    assert_eq!(
        (exit.stderr.total_bytes, exit.stderr.cut_bytes),
        (1_000_000, 999_990)
    );
    sandbox.destroy().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn killing_a_process_ends_it_and_everything_it_started() {
    let rig = rig(0);
    let sandbox = rig.sandbox(SandboxSpec::default()).await;
    // A child, a grandchild under a subshell, and an orphaned grandchild.
    let tree = ProcessSpec::new([
        "bash",
        "-c",
        "(sleep 310; true) & (sleep 312 &); sleep 311 & echo started; wait",
    ]);
    let SandboxProcess {
        stdin,
        stdout,
        handle,
    } = spawn(&*sandbox, &tree).await;
    let mut lines = BufReader::new(stdout).lines();
    assert_eq!(
        within("the start", lines.next_line()).await.unwrap(),
        Some("started".to_owned())
    );
    let all = "sleep 31[012]";
    assert_eq!(count(&*sandbox, all).await, 3, "the tree is not all there");

    let started = Instant::now();
    let exit = within("the kill", handle.kill()).await.unwrap();
    assert_eq!(exit.outcome, Outcome::Cancelled);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the kill took {:?}",
        started.elapsed()
    );
    assert_eq!(count(&*sandbox, all).await, 0, "part of the tree survived");
    assert_eq!(
        within("stdout's end", lines.next_line()).await.unwrap(),
        None
    );
    // Its stdin is closed: writing to it fails (once the pipe's buffer is noticed).
    drop(stdin);
    // The sandbox is as it was: commands still run.
    assert_eq!(run(&*sandbox, "echo fine").await.output.text, "fine\n");
    sandbox.destroy().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cancelled_session_a_timeout_and_a_destroy_each_end_a_process() {
    let rig = rig(0);
    let sandbox = rig.sandbox(SandboxSpec::default()).await;
    let cancel = CancellationToken::new();
    let process = within(
        "the process to start",
        sandbox.spawn(&ProcessSpec::new(["sleep", "320"]), &cancel),
    )
    .await
    .unwrap();
    assert_eq!(count(&*sandbox, "sleep 320").await, 1);
    assert!(process.handle.try_wait().is_none());
    cancel.cancel();
    let exit = within("the cancel", process.handle.wait()).await.unwrap();
    assert_eq!(exit.outcome, Outcome::Cancelled);
    assert_eq!(count(&*sandbox, "sleep 320").await, 0);

    let timed = ProcessSpec::new(["sleep", "321"]).timeout(Duration::from_secs(1));
    let process = spawn(&*sandbox, &timed).await;
    let exit = within("the timeout", process.handle.wait()).await.unwrap();
    assert_eq!(exit.outcome, Outcome::TimedOut(Duration::from_secs(1)));
    assert!(exit.duration >= Duration::from_secs(1));
    assert_eq!(count(&*sandbox, "sleep 321").await, 0);

    let process = spawn(&*sandbox, &ProcessSpec::new(["sleep", "322"])).await;
    sandbox.destroy().await.unwrap();
    let exit = within("the destroy", process.handle.wait()).await.unwrap();
    assert_eq!(exit.outcome, Outcome::Cancelled);
    assert!(!rig.container_exists(sandbox.id()).await);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_process_nobody_holds_a_handle_to_is_killed() {
    let rig = rig(0);
    let sandbox = rig.sandbox(SandboxSpec::default()).await;
    let SandboxProcess {
        stdin,
        stdout,
        handle,
    } = spawn(&*sandbox, &ProcessSpec::new(["sleep", "330"])).await;
    assert_eq!(count(&*sandbox, "sleep 330").await, 1);
    drop(handle);
    // The kill happens in the background: poll, with a deadline.
    let deadline = Instant::now() + Duration::from_secs(10);
    while count(&*sandbox, "sleep 330").await != 0 {
        assert!(Instant::now() < deadline, "the process outlived its handle");
        tokio::task::yield_now().await;
    }
    drop((stdin, stdout));
    sandbox.destroy().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_process_runs_unprivileged_with_a_writable_home_and_only_the_environment_it_is_given() {
    const SECRET: &str = "LUCID_TEST_PROCESS_SECRET_TOKEN";
    // SAFETY: the only change to the environment in this test binary, made before
    // this test reads it; glibc keeps the environment it started with alive when it
    // first copies it, so a concurrent reader in another test sees one or the other.
    unsafe { std::env::set_var(SECRET, "sk-do-not-leak-0123456789") };
    assert!(std::env::vars().any(|(name, _)| name == SECRET));

    let rig = rig(0);
    let sandbox = rig.sandbox(SandboxSpec::default()).await;
    // The environment as the process itself was given it (`/proc/self` in a
    // redirection would be the fork that becomes `tr`, read after its exec: empty).
    let script = r#"id -u
grep CapEff /proc/self/status | cut -f2
ps -o pid=,pgid= -p $$
echo "$HOME"
echo state > "$HOME/.agent-state" && cat "$HOME/.agent-state"
pwd
tr '\0' '\n' < /proc/$$/environ | sort"#;
    let spec = ProcessSpec::new(["bash", "-c", script])
        .env("AGENT_MODE", "acp")
        .cwd("/tmp");
    let SandboxProcess {
        stdin,
        mut stdout,
        handle,
    } = spawn(&*sandbox, &spec).await;
    drop(stdin);
    let mut out = String::new();
    within("stdout", stdout.read_to_string(&mut out))
        .await
        .unwrap();
    let exit = within("the exit", handle.wait()).await.unwrap();
    assert_eq!(exit.outcome, Outcome::Exited(0), "{}", exit.stderr.text);
    let mut lines = out.lines();
    let uid: u32 = lines.next().unwrap().parse().unwrap();
    assert_ne!(uid, 0, "it runs as root");
    assert_eq!(
        lines.next(),
        Some("0000000000000000"),
        "it holds capabilities"
    );
    let group: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(
        group[0], group[1],
        "it does not lead a process group of its own"
    );
    let home = lines.next().unwrap();
    assert_eq!(lines.next(), Some("state"), "HOME ({home}) is not writable");
    assert_eq!(lines.next(), Some("/tmp"), "it runs elsewhere than asked");

    let environment: Vec<&str> = lines.collect();
    assert!(environment.contains(&"AGENT_MODE=acp"), "{environment:?}");
    assert!(
        !out.contains("sk-do-not-leak"),
        "lucid's secret leaked:\n{out}"
    );
    let names: HashSet<&str> = environment
        .iter()
        .map(|line| line.split('=').next().unwrap())
        .collect();
    let allowed: HashSet<&str> = SANDBOX_ENV.iter().chain(&["AGENT_MODE"]).copied().collect();
    assert!(names.is_subset(&allowed), "it sees {names:?}");
    sandbox.destroy().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_process_killed_for_its_memory_is_reported_out_of_memory() {
    let rig = rig(0);
    let sandbox = rig
        .sandbox(SandboxSpec::default().memory_bytes(128 << 20))
        .await;
    let hog = ProcessSpec::new(["python3", "-c", HOG]);
    let process = spawn(&*sandbox, &hog).await;
    let exit = tokio::time::timeout(OOM_PATIENCE, process.handle.wait())
        .await
        .expect("the hog was not killed")
        .unwrap();
    assert_eq!(exit.outcome, Outcome::OutOfMemory, "{}", exit.stderr.text);
    // A program that cannot run says why, as a shell would.
    let missing = spawn(&*sandbox, &ProcessSpec::new(["no-such-agent"])).await;
    let exit = within("the exit", missing.handle.wait()).await.unwrap();
    assert_eq!(exit.outcome, Outcome::Exited(127));
    assert!(
        exit.stderr.text.contains("no-such-agent"),
        "{}",
        exit.stderr.text
    );
    sandbox.destroy().await.unwrap();
}
