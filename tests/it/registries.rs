//! The `registries` network on the real Docker engine: a sandbox downloads a package
//! from a fake registry on the host through lucid's proxy, with its tools' proxy
//! settings as they are, while every other way out fails and is reported.

use crate::harness::{docker_host, within};
use axum::routing::get;
use lucid::core::SessionId;
use lucid::sandbox::proxy::AllowList;
use lucid::sandbox::{
    CommandSpec, DockerEngine, DockerSandboxes, HostReached, Network, Outcome, RegistryPolicy,
    Sandbox, SandboxSettings, SandboxSpec, Sandboxes,
};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio_util::sync::CancellationToken;

const PACKAGE_LEN: usize = 256 * 1024;

/// A package registry on the host's loopback only: no container reaches it but
/// through the proxy, which has it pinned as `registry.test`.
struct FakeRegistry {
    addr: SocketAddr,
    downloads: Arc<AtomicUsize>,
}

async fn fake_registry() -> FakeRegistry {
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let downloads = Arc::new(AtomicUsize::new(0));
    let counted = downloads.clone();
    let app = axum::Router::new().route(
        "/packages/tiny-1.0.tar.gz",
        get(move || async move {
            counted.fetch_add(1, Ordering::SeqCst);
            package()
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    FakeRegistry { addr, downloads }
}

fn package() -> Vec<u8> {
    (0..PACKAGE_LEN).map(|i| (i % 251) as u8).collect()
}

fn spec(registry: &FakeRegistry) -> SandboxSpec {
    // The metadata address is even written on the list: the proxy refuses it anyway.
    let hosts = AllowList::parse(["defaults", "169.254.169.254"]).unwrap();
    let policy = RegistryPolicy::default()
        .hosts(hosts)
        .pin("registry.test", registry.addr);
    SandboxSpec::default()
        .network(Network::Registries)
        .registries(policy)
}

fn sandboxes(spec: &SandboxSpec, pool_size: usize, dir: &tempfile::TempDir) -> DockerSandboxes {
    let engine = Arc::new(DockerEngine::new(&docker_host()).unwrap());
    let settings = SandboxSettings {
        spec: spec.clone(),
        workspaces: dir.path().to_owned(),
        pool_size,
        idle_timeout: Duration::from_secs(600),
    };
    DockerSandboxes::new(engine, settings)
}

async fn run(sandbox: &dyn Sandbox, command: &str) -> (Outcome, String) {
    let spec = CommandSpec::new(command).timeout(Duration::from_secs(15));
    let result = within(command, sandbox.run(&spec, None, &CancellationToken::new()))
        .await
        .unwrap();
    (result.outcome, result.output.text)
}

/// Python's own urllib, which reads HTTP_PROXY from the environment as pip does.
fn fetch(url: &str) -> String {
    format!(
        "python3 -c 'import sys, urllib.request\n\
         try:\n    body = urllib.request.urlopen(\"{url}\", timeout=10).read()\n    print(\"got\", len(body))\n\
         except Exception as e:\n    print(\"failed:\", e); sys.exit(1)'"
    )
}

/// Reports until one for `host:port` comes.
async fn report_for(
    log: &mut UnboundedReceiver<HostReached>,
    host: &str,
    port: u16,
) -> HostReached {
    within(&format!("a report for {host}:{port}"), async {
        loop {
            let report = log.recv().await.expect("the proxy went away");
            if report.host == host && report.port == port {
                return report;
            }
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_package_comes_through_the_proxy_and_every_other_way_out_fails() {
    let registry = fake_registry().await;
    let dir = tempfile::tempdir().unwrap();
    let spec = spec(&registry);
    let sandboxes = sandboxes(&spec, 0, &dir);
    let sandbox = within("a sandbox", sandboxes.create(SessionId::new(), &spec))
        .await
        .unwrap();
    let mut log = sandbox
        .network_log()
        .expect("a registries sandbox has a log");
    assert!(
        sandbox.network_log().is_none(),
        "the log is handed out once"
    );

    // A plain GET, and the same file through a CONNECT tunnel.
    let url = "http://registry.test/packages/tiny-1.0.tar.gz";
    let (outcome, out) = run(&*sandbox, &fetch(url)).await;
    assert_eq!(
        (outcome, out.trim()),
        (Outcome::Exited(0), format!("got {PACKAGE_LEN}").as_str())
    );
    let tunnelled = "python3 -c 'import http.client, os, urllib.parse\n\
        proxy = urllib.parse.urlsplit(os.environ[\"HTTPS_PROXY\"])\n\
        c = http.client.HTTPConnection(proxy.hostname, proxy.port, timeout=10)\n\
        c.set_tunnel(\"registry.test\", 443)\n\
        c.request(\"GET\", \"/packages/tiny-1.0.tar.gz\")\n\
        print(\"got\", len(c.getresponse().read()))'";
    let (outcome, out) = run(&*sandbox, tunnelled).await;
    assert_eq!(
        (outcome, out.trim()),
        (Outcome::Exited(0), format!("got {PACKAGE_LEN}").as_str())
    );
    assert_eq!(registry.downloads.load(Ordering::SeqCst), 2);
    for port in [80, 443] {
        let reached = report_for(&mut log, "registry.test", port).await;
        assert_eq!(reached.refused, None);
        assert!(reached.bytes_down > PACKAGE_LEN as u64, "{reached:?}");
        assert!(reached.bytes_up > 0, "{reached:?}");
    }

    // Through the proxy: a host not on the list, the host's own address, the cloud's
    // metadata address.
    let (_, proxy) = run(&*sandbox, "echo $HTTP_PROXY").await;
    let gateway = proxy
        .trim()
        .trim_start_matches("http://")
        .split(':')
        .next()
        .unwrap()
        .to_owned();
    let refused = [
        (
            "http://example.com/".to_owned(),
            "example.com",
            80,
            "not on the registry allow-list",
        ),
        (
            "https://github.com/".to_owned(),
            "github.com",
            443,
            "not on the registry allow-list",
        ),
        (
            format!(
                "http://{gateway}:{}/packages/tiny-1.0.tar.gz",
                registry.addr.port()
            ),
            gateway.as_str(),
            registry.addr.port(),
            "not on the registry allow-list",
        ),
        (
            "http://169.254.169.254/latest/meta-data/".to_owned(),
            "169.254.169.254",
            80,
            "169.254.169.254 is a link-local address",
        ),
    ];
    for (url, host, port, reason) in refused {
        let (outcome, out) = run(&*sandbox, &fetch(&url)).await;
        assert_eq!(outcome, Outcome::Exited(1), "{url}: {out}");
        assert!(out.contains("403"), "{url}: {out}");
        let reached = report_for(&mut log, host, port).await;
        let why = reached.refused.unwrap_or_default();
        assert!(why.contains(reason), "{url}: {why}");
        assert_eq!((reached.bytes_up, reached.bytes_down), (0, 0));
    }
    assert_eq!(registry.downloads.load(Ordering::SeqCst), 2);

    // Without the proxy there is no way out: no route, no name resolution, and the
    // registry (on the host's loopback) is not reachable directly.
    let direct = format!(
        "python3 -c 'import socket\n\
         for target in [(\"1.1.1.1\", 53), (\"{gateway}\", {port}), (\"127.0.0.1\", {port})]:\n    \
             try:\n        socket.create_connection(target, timeout=3); print(\"connected\", target)\n    \
             except OSError as e: print(\"failed\", target, e)\n\
         try:\n    print(\"resolved\", socket.gethostbyname(\"pypi.org\"))\n\
         except OSError as e: print(\"no name\", e)'",
        port = registry.addr.port()
    );
    let (_, out) = run(&*sandbox, &direct).await;
    assert!(
        !out.contains("connected") && !out.contains("resolved"),
        "{out}"
    );
    assert_eq!(out.matches("failed").count(), 3, "{out}");
    sandbox.destroy().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_warm_sandbox_reports_to_the_session_it_went_to() {
    let registry = fake_registry().await;
    let dir = tempfile::tempdir().unwrap();
    let spec = spec(&registry);
    let sandboxes = sandboxes(&spec, 1, &dir);
    within("a warm sandbox", sandboxes.fill_pool()).await;
    assert_eq!(sandboxes.warm_count().await, 1);
    let sandbox = within("a sandbox", sandboxes.create(SessionId::new(), &spec))
        .await
        .unwrap();
    let mut log = sandbox.network_log().unwrap();
    let (outcome, out) = run(
        &*sandbox,
        &fetch("http://registry.test/packages/tiny-1.0.tar.gz"),
    )
    .await;
    assert_eq!(outcome, Outcome::Exited(0), "{out}");
    let reached = report_for(&mut log, "registry.test", 80).await;
    assert!(reached.bytes_down > PACKAGE_LEN as u64);
    sandbox.destroy().await.unwrap();
    sandboxes.drain_pool().await;
}
