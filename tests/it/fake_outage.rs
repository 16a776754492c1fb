//! A platform's API down for as long as a test says, the switch each fake platform
//! server (Slack, GitHub, Discord) carries as `outage`: while it is down, requests
//! are answered with a 5xx the way a load balancer in front of a failing service
//! answers (an HTML page, no API body), or connections are closed as soon as they
//! are read from (new ones and those kept alive), as when the service behind an
//! address is gone. It can start by itself right after a given request was answered
//! (`begin_after`), so that a test can put the outage at an exact point of a run.
//!
//! Requests turned away and connections closed are recorded with the moment they
//! came, so a test can tell how lucid tried again (how often, how far apart).

// Each fake holds its own copy of this file and its tests use a part of it.
#![allow(dead_code)]
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Instant;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// How the API is down.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Down {
    /// Every request (on the outage's paths) gets this status and an HTML page.
    Answering(u16),
    /// Like `Answering`, with 500, 502 and 503 in turn, as a service failing behind a
    /// load balancer answers one request after another.
    Failing,
    /// Every connection is closed without an answer. Whole servers only: a closed
    /// connection has no path.
    Closing,
}

/// One request turned away, or one connection closed (method and path unknown).
#[derive(Clone, Debug)]
pub struct TurnedAway {
    pub at: Instant,
    pub method: String,
    pub path: String,
}

#[derive(Clone, Debug)]
struct Scope {
    down: Down,
    /// Only paths starting with this are down ("" for all).
    path_prefix: String,
}

#[derive(Clone, Debug)]
struct Trigger {
    method: String,
    path_prefix: String,
    then: Scope,
}

#[derive(Default)]
struct Switch {
    now: Option<Scope>,
    armed: Option<Trigger>,
    began: Option<Instant>,
    ended: Option<Instant>,
    turned_away: Vec<TurnedAway>,
}

/// What `Down::Failing` answers, in turn.
const FAILING: [u16; 3] = [500, 502, 503];

/// The switch. Clones share it.
#[derive(Clone, Default)]
pub struct Outage {
    state: Arc<Mutex<Switch>>,
    changed: Arc<tokio::sync::Notify>,
}

impl Outage {
    fn state(&self) -> MutexGuard<'_, Switch> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The whole API is down from now on, until `end`.
    pub fn begin(&self, down: Down) {
        self.begin_on(down, "");
    }

    /// Paths starting with `path_prefix` are down from now on, until `end`.
    pub fn begin_on(&self, down: Down, path_prefix: &str) {
        assert!(
            down != Down::Closing || path_prefix.is_empty(),
            "a closed connection has no path: close the whole server"
        );
        let mut state = self.state();
        state.now = Some(Scope {
            down,
            path_prefix: path_prefix.to_owned(),
        });
        state.began = Some(Instant::now());
        state.ended = None;
        drop(state);
        self.changed.notify_waiters();
    }

    /// The whole API goes down right after the next request whose method is `method`
    /// and path starts with `path_prefix` was answered (that one is answered as usual).
    pub fn begin_after(&self, method: &str, path_prefix: &str, down: Down) {
        self.state().armed = Some(Trigger {
            method: method.to_uppercase(),
            path_prefix: path_prefix.to_owned(),
            then: Scope {
                down,
                path_prefix: String::new(),
            },
        });
    }

    /// The API answers again.
    pub fn end(&self) {
        let mut state = self.state();
        state.now = None;
        state.armed = None;
        state.ended = Some(Instant::now());
        drop(state);
        self.changed.notify_waiters();
    }

    /// When the outage began, if it did.
    pub fn began(&self) -> Option<Instant> {
        self.state().began
    }

    /// Waits until the outage has begun (one armed with `begin_after`), for at most
    /// the harness deadline.
    pub async fn until_begun(&self) -> Instant {
        let begun = tokio::time::timeout(crate::harness::DEADLINE, async {
            loop {
                let changed = self.changed.notified();
                tokio::pin!(changed);
                changed.as_mut().enable();
                if let Some(at) = self.began() {
                    return at;
                }
                changed.await;
            }
        });
        begun.await.expect("the outage did not begin in time")
    }

    /// Everything turned away so far, in order.
    pub fn turned_away(&self) -> Vec<TurnedAway> {
        self.state().turned_away.clone()
    }

    /// Those turned away whose path starts with `path_prefix`.
    pub fn turned_away_on(&self, path_prefix: &str) -> Vec<TurnedAway> {
        self.turned_away()
            .into_iter()
            .filter(|t| t.path.starts_with(path_prefix))
            .collect()
    }

    /// How this request is turned away now, if it is.
    fn refuses(&self, method: &str, path: &str) -> Option<Down> {
        let mut state = self.state();
        let scope = state.now.clone()?;
        if !path.starts_with(&scope.path_prefix) {
            return None;
        }
        state.turned_away.push(TurnedAway {
            at: Instant::now(),
            method: method.to_owned(),
            path: path.to_owned(),
        });
        Some(scope.down)
    }

    fn closing(&self) -> bool {
        let state = self.state();
        matches!(&state.now, Some(scope) if scope.down == Down::Closing)
    }

    fn closed_one(&self) {
        self.state().turned_away.push(TurnedAway {
            at: Instant::now(),
            method: String::new(),
            path: String::new(),
        });
    }

    /// Starts the armed outage if this answered request is its trigger.
    fn answered(&self, method: &str, path: &str) {
        let mut state = self.state();
        let fires = state
            .armed
            .as_ref()
            .is_some_and(|t| t.method == method && path.starts_with(&t.path_prefix));
        if !fires {
            return;
        }
        let trigger = state.armed.take().unwrap();
        state.now = Some(trigger.then);
        state.began = Some(Instant::now());
        drop(state);
        self.changed.notify_waiters();
    }
}

/// The middleware every fake's router is wrapped in:
/// `.layer(axum::middleware::from_fn_with_state(outage.clone(), fake_outage::gate))`.
pub async fn gate(State(outage): State<Outage>, request: Request, next: Next) -> Response {
    let method = request.method().as_str().to_owned();
    let path = request.uri().path().to_owned();
    let refused = outage.refuses(&method, &path).map(|down| match down {
        Down::Failing => Down::Answering(FAILING[outage.turned_away().len() % FAILING.len()]),
        other => other,
    });
    match refused {
        Some(Down::Answering(status)) => {
            let status = axum::http::StatusCode::from_u16(status).unwrap();
            let page = format!(
                "<html><head><title>{status}</title></head><body><h1>{status}</h1></body></html>"
            );
            (status, [("content-type", "text/html; charset=utf-8")], page).into_response()
        }
        // Reached only on a connection read before the outage began: its next read
        // closes it.
        Some(Down::Closing | Down::Failing) | None => {
            let response = next.run(request).await;
            outage.answered(&method, &path);
            response
        }
    }
}

/// A listener whose connections fail as soon as they are read from while the outage
/// closes connections: `axum::serve(Gated::new(listener, outage), app)`.
pub struct Gated {
    listener: TcpListener,
    outage: Outage,
}

impl Gated {
    pub fn new(listener: TcpListener, outage: Outage) -> Gated {
        Gated { listener, outage }
    }
}

impl axum::serve::Listener for Gated {
    type Io = GatedStream;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.listener.accept().await {
                Ok((stream, address)) => {
                    let stream = GatedStream {
                        stream,
                        outage: self.outage.clone(),
                    };
                    return (stream, address);
                }
                // Out of descriptors or the like: wait, as axum::serve does.
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.listener.local_addr()
    }
}

/// A connection that breaks at its next read while the outage closes connections
/// (the answer being written when it began still goes out).
pub struct GatedStream {
    stream: TcpStream,
    outage: Outage,
}

impl AsyncRead for GatedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        // Only a connection the client writes to is closed, and counted: an idle one
        // kept alive breaks when it is next used.
        let before = buf.filled().len();
        match Pin::new(&mut self.stream).poll_read(cx, buf) {
            Poll::Ready(Ok(())) if self.outage.closing() => {
                if buf.filled().len() > before {
                    self.outage.closed_one();
                }
                Poll::Ready(Err(io::ErrorKind::ConnectionReset.into()))
            }
            other => other,
        }
    }
}

impl AsyncWrite for GatedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
