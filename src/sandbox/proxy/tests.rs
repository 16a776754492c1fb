//! The proxy over loopback, with small registries of the test's own, pinned.

use super::*;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc::UnboundedReceiver;

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

async fn proxy(limits: ProxyLimits) -> RegistryProxy {
    RegistryProxy::bind((LOOPBACK, 0).into(), limits)
        .await
        .unwrap()
}

/// A one-connection server: hands what it read (up to `expect` bytes or a whole
/// head) back through the join handle, after writing `reply` and closing.
async fn registry(
    expect: usize,
    reply: &'static [u8],
) -> (SocketAddr, tokio::task::JoinHandle<Vec<u8>>) {
    let listener = TcpListener::bind((LOOPBACK, 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let served = tokio::spawn(async move {
        let (mut conn, _) = listener.accept().await.unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 1024];
        while got.len() < expect && !got.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = conn.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        conn.write_all(reply).await.unwrap();
        got
    });
    (addr, served)
}

/// Sends `request` through the proxy and reads the answer to its end.
async fn exchange(proxy: &RegistryProxy, request: &[u8]) -> String {
    let mut conn = TcpStream::connect(proxy.addr()).await.unwrap();
    conn.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    within(conn.read_to_end(&mut answer)).await.unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

async fn within<T>(fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), fut)
        .await
        .expect("the proxy took too long")
}

async fn report(reports: &mut UnboundedReceiver<HostReached>) -> HostReached {
    within(reports.recv()).await.expect("a report")
}

fn pinned(addr: SocketAddr) -> RegistryPolicy {
    RegistryPolicy::default().pin("registry.test", addr)
}

#[tokio::test]
async fn a_connect_to_a_pinned_host_tunnels_both_ways_and_counts_the_bytes() {
    let (registry, served) = registry(5, b"world!").await;
    let proxy = proxy(ProxyLimits::default()).await;
    let mut reports = proxy.admit(LOOPBACK, pinned(registry));

    let answer = exchange(
        &proxy,
        b"CONNECT Registry.Test:443 HTTP/1.1\r\nHost: registry.test:443\r\n\r\nhello",
    )
    .await;
    assert_eq!(answer, "HTTP/1.1 200 Connection Established\r\n\r\nworld!");
    assert_eq!(served.await.unwrap(), b"hello");
    let reached = report(&mut reports).await;
    assert_eq!(
        reached,
        HostReached {
            bytes_up: 5,
            bytes_down: 6,
            ..HostReached::new("registry.test", 443)
        }
    );
}

#[tokio::test]
async fn a_host_not_on_the_list_gets_403_and_is_reported_refused() {
    let proxy = proxy(ProxyLimits::default()).await;
    let mut reports = proxy.admit(LOOPBACK, RegistryPolicy::default());
    let answer = exchange(&proxy, b"CONNECT github.com:443 HTTP/1.1\r\n\r\n").await;
    assert!(answer.starts_with("HTTP/1.1 403 Forbidden\r\n"), "{answer}");
    assert!(answer.ends_with("github.com is not on the registry allow-list\n"));
    let reached = report(&mut reports).await;
    assert_eq!((reached.host.as_str(), reached.port), ("github.com", 443));
    assert_eq!((reached.bytes_up, reached.bytes_down), (0, 0));
    assert!(reached.refused.unwrap().contains("allow-list"));
}

#[tokio::test]
async fn a_plain_get_is_forwarded_in_origin_form_and_closed_after() {
    const RESPONSE: &[u8] =
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\r\nhello";
    let (registry, served) = registry(4096, RESPONSE).await;
    let proxy = proxy(ProxyLimits::default()).await;
    let mut reports = proxy.admit(LOOPBACK, pinned(registry));
    let answer = exchange(
        &proxy,
        b"GET http://registry.test/pkg-1.0.tar.gz HTTP/1.1\r\nHost: registry.test\r\n\
          Proxy-Connection: keep-alive\r\nAccept: */*\r\n\r\n",
    )
    .await;
    assert_eq!(
        answer,
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello"
    );
    let sent = String::from_utf8(served.await.unwrap()).unwrap();
    assert_eq!(
        sent,
        "GET /pkg-1.0.tar.gz HTTP/1.1\r\nHost: registry.test\r\nAccept: */*\r\nConnection: close\r\n\r\n"
    );
    let reached = report(&mut reports).await;
    assert_eq!((reached.host.as_str(), reached.port), ("registry.test", 80));
    assert_eq!(reached.bytes_up, sent.len() as u64);
    assert_eq!(reached.bytes_down, RESPONSE.len() as u64);
    assert_eq!((reached.refused, reached.error), (None, None));
}

#[tokio::test]
async fn a_name_that_resolves_to_a_private_address_is_refused() {
    let proxy = proxy(ProxyLimits::default()).await;
    let hosts = AllowList::parse(["localhost", "169.254.169.254", "*.example.org"]).unwrap();
    let mut reports = proxy.admit(LOOPBACK, RegistryPolicy::default().hosts(hosts));

    let answer = exchange(&proxy, b"CONNECT localhost:443 HTTP/1.1\r\n\r\n").await;
    assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
    let refused = report(&mut reports).await.refused.unwrap();
    assert!(refused.starts_with("localhost resolves to "), "{refused}");
    assert!(refused.ends_with("a loopback address"), "{refused}");

    // Even written on the list, the metadata address is not reachable.
    let answer = exchange(
        &proxy,
        b"GET http://169.254.169.254/latest/meta-data/ HTTP/1.1\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
    let refused = report(&mut reports).await.refused.unwrap();
    assert_eq!(refused, "169.254.169.254 is a link-local address");

    // An IP literal no entry names is refused before anything else.
    exchange(&proxy, b"CONNECT 10.0.0.1:443 HTTP/1.1\r\n\r\n").await;
    let refused = report(&mut reports).await.refused.unwrap();
    assert!(
        refused.contains("not on the registry allow-list"),
        "{refused}"
    );
}

#[tokio::test]
async fn only_admitted_sandboxes_are_served_and_forgotten_ones_no_more() {
    let proxy = proxy(ProxyLimits::default()).await;
    let answer = exchange(&proxy, b"CONNECT pypi.org:443 HTTP/1.1\r\n\r\n").await;
    assert!(
        answer.contains("403 Forbidden") && answer.contains("no sandbox"),
        "{answer}"
    );
    let _reports = proxy.admit(LOOPBACK, RegistryPolicy::default());
    proxy.forget(LOOPBACK);
    let answer = exchange(&proxy, b"CONNECT pypi.org:443 HTTP/1.1\r\n\r\n").await;
    assert!(answer.contains("no sandbox"), "{answer}");
}

#[tokio::test]
async fn oversized_heads_and_requests_not_for_a_proxy_are_answered_briefly() {
    let limits = ProxyLimits {
        max_head: 1024,
        ..ProxyLimits::default()
    };
    let proxy = proxy(limits).await;
    let _reports = proxy.admit(LOOPBACK, RegistryPolicy::default());
    let big = format!(
        "GET http://pypi.org/ HTTP/1.1\r\nX: {}\r\n\r\n",
        "a".repeat(4000)
    );
    let answer = exchange(&proxy, big.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
    let answer = exchange(&proxy, b"GET /simple/ HTTP/1.1\r\nHost: pypi.org\r\n\r\n").await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
}

#[tokio::test]
async fn a_tunnel_where_nothing_moves_is_cut() {
    // A registry that accepts and then says nothing.
    let listener = TcpListener::bind((LOOPBACK, 0)).await.unwrap();
    let registry = listener.local_addr().unwrap();
    let _held = tokio::spawn(async move { listener.accept().await.map(|(conn, _)| conn) });
    let limits = ProxyLimits {
        idle_timeout: Duration::from_millis(200),
        ..ProxyLimits::default()
    };
    let proxy = proxy(limits).await;
    let mut reports = proxy.admit(LOOPBACK, pinned(registry));
    let answer = exchange(&proxy, b"CONNECT registry.test:443 HTTP/1.1\r\n\r\n").await;
    assert_eq!(answer, "HTTP/1.1 200 Connection Established\r\n\r\n");
    let reached = report(&mut reports).await;
    assert_eq!(
        reached.error.as_deref(),
        Some("cut after 200ms without traffic")
    );
}

#[test]
fn pins_read_as_curl_resolve_does() {
    assert_eq!(
        parse_pin("Registry.Test=127.0.0.1:8080"),
        Ok(("registry.test".into(), "127.0.0.1:8080".parse().unwrap()))
    );
    assert_eq!(
        parse_pin("mirror.internal=[fd00::5]:443").unwrap().1,
        "[fd00::5]:443".parse().unwrap()
    );
    for bad in [
        "registry.test",
        "registry.test=127.0.0.1",
        "10.0.0.1=10.0.0.1:80",
        "=1.2.3.4:80",
    ] {
        assert!(parse_pin(bad).is_err(), "{bad}");
    }
}
