//! What the registry proxy costs a download: `BENCH_MB` (default 50) MB from a local
//! HTTP server, `BENCH_RUNS` times (default 20) each way, in turn: straight from the
//! server, through the proxy as a plain `GET http://...`, and through a CONNECT
//! tunnel (plain HTTP inside, so TLS costs are not counted on either side).
//!
//! Printed: p50 and p95 of each download, throughput at p50, the overhead over the
//! direct download, this process's CPU per download (server, proxy and client all
//! run in it), and the share of the machine's CPU its host took meanwhile (steal).
//!
//! Run: `cargo bench --bench proxy`.

#[allow(dead_code)]
mod common;

use axum::routing::get;
use bytes::Bytes;
use common::{Usage, env_or, percentile};
use lucid::sandbox::proxy::{ProxyLimits, RegistryPolicy, RegistryProxy};
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[derive(Clone, Copy, PartialEq)]
enum Way {
    Direct,
    Get,
    Connect,
}

impl Way {
    const ALL: [Way; 3] = [Way::Direct, Way::Get, Way::Connect];

    fn name(self) -> &'static str {
        match self {
            Way::Direct => "direct",
            Way::Get => "proxy, plain GET",
            Way::Connect => "proxy, CONNECT tunnel",
        }
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(bench());
}

async fn bench() {
    let size = env_or("BENCH_MB", 50.0) as usize * 1024 * 1024;
    let runs = env_or("BENCH_RUNS", 20.0) as usize;
    let server = serve(Bytes::from(vec![7u8; size])).await;
    let proxy = RegistryProxy::bind((Ipv4Addr::LOCALHOST, 0).into(), ProxyLimits::default())
        .await
        .unwrap();
    let policy = RegistryPolicy::default().pin("registry.bench", server);
    let mut reports = proxy.admit(Ipv4Addr::LOCALHOST.into(), policy);

    // One of each first, untimed: connections, page cache and allocator warm.
    for way in Way::ALL {
        download(way, server, proxy.addr(), size).await;
    }
    let usage = Usage::start(0);
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); Way::ALL.len()];
    let mut cpu = vec![Duration::ZERO; Way::ALL.len()];
    for _ in 0..runs {
        for (i, way) in Way::ALL.into_iter().enumerate() {
            let before = Usage::start(0);
            times[i].push(download(way, server, proxy.addr(), size).await);
            cpu[i] += before.since().bench;
        }
    }
    let stolen = usage.since().stolen;
    // Every proxied download is reported with its bytes (the last as its tunnel ends).
    for _ in 0..2 * (runs + 1) {
        let report = tokio::time::timeout(Duration::from_secs(10), reports.recv())
            .await
            .expect("a report for every download")
            .unwrap();
        assert!(report.bytes_down >= size as u64, "{report:?}");
    }

    print_figures(size, runs, &mut times, &cpu, stolen);
}

fn print_figures(
    size: usize,
    runs: usize,
    times: &mut [Vec<Duration>],
    cpu: &[Duration],
    stolen: f64,
) {
    let mb = size as f64 / (1024.0 * 1024.0);
    println!("a {mb:.0} MB download over loopback, {runs} runs each way");
    println!(
        "  {:24} {:>8} {:>8} {:>10} {:>13} {:>12}",
        "way", "p50 ms", "p95 ms", "MB/s @p50", "overhead @p50", "CPU ms/run"
    );
    let direct = {
        times[0].sort();
        percentile(&times[0], 0.5).unwrap()
    };
    for (i, way) in Way::ALL.into_iter().enumerate() {
        times[i].sort();
        let p50 = percentile(&times[i], 0.5).unwrap();
        let p95 = percentile(&times[i], 0.95).unwrap();
        let overhead = match way {
            Way::Direct => "-".to_owned(),
            _ => format!(
                "{:+.1}%",
                (p50.as_secs_f64() / direct.as_secs_f64() - 1.0) * 100.0
            ),
        };
        println!(
            "  {:24} {:>8.1} {:>8.1} {:>10.0} {:>13} {:>12.1}",
            way.name(),
            p50.as_secs_f64() * 1e3,
            p95.as_secs_f64() * 1e3,
            mb / p50.as_secs_f64(),
            overhead,
            cpu[i].as_secs_f64() * 1e3 / runs as f64,
        );
    }
    println!("  steal meanwhile: {:.1}%", stolen * 100.0);
}

/// The registry: `/blob` is `body`, sent from memory.
async fn serve(body: Bytes) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().route("/blob", get(move || async move { body.clone() }));
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

/// One download, from connecting to the last byte.
async fn download(way: Way, server: SocketAddr, proxy: SocketAddr, size: usize) -> Duration {
    let started = Instant::now();
    let get = "GET /blob HTTP/1.1\r\nHost: registry.bench\r\nConnection: close\r\n\r\n";
    let mut conn = match way {
        Way::Direct => TcpStream::connect(server).await.unwrap(),
        Way::Get => TcpStream::connect(proxy).await.unwrap(),
        Way::Connect => {
            let mut conn = TcpStream::connect(proxy).await.unwrap();
            conn.write_all(b"CONNECT registry.bench:443 HTTP/1.1\r\n\r\n")
                .await
                .unwrap();
            let expect = b"HTTP/1.1 200 Connection Established\r\n\r\n";
            let mut answer = vec![0u8; expect.len()];
            conn.read_exact(&mut answer).await.unwrap();
            assert_eq!(answer, expect);
            conn
        }
    };
    conn.set_nodelay(true).unwrap();
    let request = match way {
        Way::Get => get.replace("/blob", "http://registry.bench/blob"),
        _ => get.to_owned(),
    };
    conn.write_all(request.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 256 * 1024];
    let mut received = 0;
    loop {
        let n = conn.read(&mut buf).await.unwrap();
        if n == 0 {
            break;
        }
        received += n;
    }
    assert!(received > size, "only {received} bytes came");
    started.elapsed()
}
