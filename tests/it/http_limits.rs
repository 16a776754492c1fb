//! The HTTP server's guards, over real sockets: a body over the limit is refused with
//! 413 without waiting for the rest of it, slow clients are cut by the header and body
//! timeouts, and the API's request rate answers 429 with `Retry-After` (webhooks
//! aside). Each server is lucid's own (`lucid::http::serve`) with small limits.

use crate::harness::{API_TOKEN, Backend, TestDb, docker_host, migrated_store, within};
use lucid::http::{AppState, HttpLimits, router_with};
use lucid::sandbox::DockerEngine;
use secrecy::SecretString;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// lucid's router, a stand-in webhook route beside it, served by lucid's server.
struct Server {
    addr: SocketAddr,
    _db: TestDb,
}

impl Server {
    async fn start(limits: HttpLimits) -> Server {
        let (store, db) = migrated_store(Backend::Sqlite).await;
        let docker = Arc::new(DockerEngine::new(&docker_host()).unwrap());
        let state = AppState::new(store, docker, Some(SecretString::from(API_TOKEN)))
            .with_http_limits(limits);
        // Where a platform's webhook would be: the platforms' own routes are merged
        // the same way, after the rate limit.
        let webhooks = axum::Router::new().route(
            "/webhooks/test",
            axum::routing::post(|body: axum::body::Bytes| async move { body.len().to_string() }),
        );
        let app = router_with(state, webhooks);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            lucid::http::serve(listener, app, &limits, std::future::pending()).await;
        });
        Server { addr, _db: db }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    async fn connect(&self) -> TcpStream {
        TcpStream::connect(self.addr).await.unwrap()
    }
}

fn limits() -> HttpLimits {
    HttpLimits {
        max_body_bytes: 4096,
        header_timeout: Duration::from_secs(30),
        body_timeout: Duration::from_secs(30),
        api_rate: 0,
        api_burst: 1,
    }
}

/// Everything the server sends until it closes the connection (a reset counts as
/// closing), and how long that took.
async fn until_closed(stream: &mut TcpStream) -> (String, Duration) {
    let started = Instant::now();
    let mut got = Vec::new();
    within("the server to close the connection", async {
        let mut buffer = [0u8; 4096];
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buffer[..n]),
            }
        }
    })
    .await;
    (
        String::from_utf8_lossy(&got).into_owned(),
        started.elapsed(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_over_the_limit_is_refused_with_413_before_it_is_read_whole() {
    let server = Server::start(limits()).await;

    // Its length says so: refused at once, with none of it sent.
    let mut stream = server.connect().await;
    stream
        .write_all(
            b"POST /webhooks/test HTTP/1.1\r\nHost: lucid\r\n\
              Content-Type: application/json\r\nContent-Length: 100000000\r\n\r\n",
        )
        .await
        .unwrap();
    let (answer, took) = until_closed(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("larger than 4096 bytes"), "{answer}");
    assert!(took < Duration::from_secs(5), "{took:?}");

    // Chunked, with no length: refused once past the limit, although the body never
    // ends (lucid does not wait for the rest, nor for its body timeout of 30 s).
    let mut stream = server.connect().await;
    stream
        .write_all(
            b"POST /webhooks/test HTTP/1.1\r\nHost: lucid\r\n\
              Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
        )
        .await
        .unwrap();
    let chunk = format!("400\r\n{}\r\n", "x".repeat(1024));
    for _ in 0..5 {
        stream.write_all(chunk.as_bytes()).await.unwrap();
    }
    let (answer, took) = until_closed(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(took < Duration::from_secs(5), "{took:?}");

    // At the limit: taken, whole.
    let http = reqwest::Client::new();
    let response = http
        .post(server.url("/webhooks/test"))
        .body(vec![b'x'; 4096])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "4096");
    // And chunked under it too.
    let stream = futures::stream::iter(
        (0..3).map(|_| Ok::<_, std::io::Error>(bytes::Bytes::from(vec![b'y'; 1000]))),
    );
    let response = http
        .post(server.url("/webhooks/test"))
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "3000");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_are_cut_by_the_header_and_body_timeouts() {
    let header_timeout = Duration::from_millis(600);
    let body_timeout = Duration::from_millis(800);
    let margin = Duration::from_secs(2);
    let server = Server::start(HttpLimits {
        header_timeout,
        body_timeout,
        ..limits()
    })
    .await;

    // Headers begun and never finished: the connection is cut.
    let mut stream = server.connect().await;
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: lucid\r\n")
        .await
        .unwrap();
    let (answer, took) = until_closed(&mut stream).await;
    assert!(!answer.contains("200 OK"), "{answer}");
    assert!(
        took >= header_timeout - Duration::from_millis(100) && took < header_timeout + margin,
        "{took:?}"
    );

    // Headers sent a byte at a time, never fast enough: cut all the same (the timeout
    // is for the whole of them, not between bytes).
    let mut stream = server.connect().await;
    let (mut reader, mut writer) = stream.split();
    let started = Instant::now();
    let trickle = async {
        for byte in b"GET /healthz HTTP/1.1\r\nHost: lucid\r\nX-Slow: "
            .iter()
            .cycle()
        {
            if writer.write_all(&[*byte]).await.is_err() {
                break;
            }
            // A client's pace, not a wait for lucid.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let closed = async {
        let mut buffer = [0u8; 1024];
        loop {
            match reader.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    };
    within("the trickling client to be cut", async {
        tokio::select! {
            () = closed => {}
            () = trickle => {}
        }
    })
    .await;
    let took = started.elapsed();
    assert!(took < header_timeout + margin, "{took:?}");

    // Headers in time, the body too slow: 408.
    let mut stream = server.connect().await;
    stream
        .write_all(
            b"POST /webhooks/test HTTP/1.1\r\nHost: lucid\r\n\
              Content-Length: 100\r\n\r\n0123456789",
        )
        .await
        .unwrap();
    let (answer, took) = until_closed(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        took >= body_timeout - Duration::from_millis(100) && took < body_timeout + margin,
        "{took:?}"
    );

    // A client in time is answered, and its connection kept.
    let http = reqwest::Client::new();
    for _ in 0..2 {
        let response = http.get(server.url("/healthz")).send().await.unwrap();
        assert_eq!(response.status(), 200);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_answers_429_with_retry_after_past_its_rate_and_webhooks_are_not_limited() {
    let server = Server::start(HttpLimits {
        api_rate: 1,
        api_burst: 10,
        ..limits()
    })
    .await;
    let http = reqwest::Client::new();
    let get = |token: Option<&str>| {
        let request = http.get(server.url("/api/v1/sessions"));
        match token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    };

    // Up to the burst: none refused.
    for _ in 0..10 {
        let response = get(Some(API_TOKEN)).send().await.unwrap();
        assert_eq!(response.status(), 200);
    }
    // Past it: 429, saying when to come back.
    let mut refused = 0;
    for _ in 0..20 {
        let response = get(Some(API_TOKEN)).send().await.unwrap();
        if response.status() == 429 {
            refused += 1;
            let retry: u64 = response.headers()["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!((1..=2).contains(&retry), "{retry}");
            let body: serde_json::Value = response.json().await.unwrap();
            assert!(
                body["error"]
                    .as_str()
                    .unwrap()
                    .contains("too many requests")
            );
        }
    }
    // One a second comes back while the loop runs: at least 18 of 20 refused.
    assert!(refused >= 18, "{refused} refused");

    // Webhooks are not limited: the platforms retry what is refused.
    for _ in 0..30 {
        let response = http
            .post(server.url("/webhooks/test"))
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }

    // Without the token the client's address is counted, apart from the token: its
    // own burst, then 429s too; a made-up token is counted as the address.
    let statuses = futures::future::join_all((0..30).map(|i| {
        let token = (i % 2 == 0).then_some("made-up-token-0123456789");
        get(token).send()
    }))
    .await;
    let codes: Vec<u16> = statuses
        .into_iter()
        .map(|r| r.unwrap().status().as_u16())
        .collect();
    let unauthorized = codes.iter().filter(|c| **c == 401).count();
    let limited = codes.iter().filter(|c| **c == 429).count();
    assert_eq!(unauthorized + limited, 30, "{codes:?}");
    assert!((10..=12).contains(&unauthorized), "{codes:?}");
}
