//! The proxy's listener: each connection is matched to the sandbox it comes from by
//! its source address, its one request checked against that sandbox's policy, and
//! then tunnelled or forwarded, and reported when it ends.

use super::head::{self, HeadError};
use super::pipe::{self, Meter};
use super::reach::{Unreachable, reach};
use super::{HostReached, RegistryPolicy};
use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio::time::timeout;
use tokio_util::sync::{CancellationToken, DropGuard};

#[derive(Clone, Copy, Debug)]
pub struct ProxyLimits {
    /// For a request's head to arrive in full.
    pub head_timeout: Duration,
    /// For a name to resolve, and again for the registry to accept the connection.
    pub connect_timeout: Duration,
    /// A connection where no byte moves either way this long is cut.
    pub idle_timeout: Duration,
    /// Largest request or response head.
    pub max_head: usize,
    /// Connections one sandbox may have open through the proxy at once.
    pub connections_per_sandbox: usize,
}

impl Default for ProxyLimits {
    fn default() -> Self {
        Self {
            head_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(120),
            max_head: 32 * 1024,
            // Package tools open a few at a time (npm at most 15).
            connections_per_sandbox: 64,
        }
    }
}

/// A running proxy; it stops when dropped.
pub struct RegistryProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    _stop: DropGuard,
}

struct Shared {
    clients: RwLock<HashMap<IpAddr, Arc<Client>>>,
    limits: ProxyLimits,
}

/// A sandbox the proxy serves: its policy, where its reports go.
struct Client {
    policy: RegistryPolicy,
    reports: mpsc::UnboundedSender<HostReached>,
    connections: Arc<Semaphore>,
}

impl RegistryProxy {
    pub async fn bind(listen: SocketAddr, limits: ProxyLimits) -> io::Result<Self> {
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            clients: RwLock::new(HashMap::new()),
            limits,
        });
        let stop = CancellationToken::new();
        tokio::spawn(accept(listener, shared.clone(), stop.clone()));
        Ok(Self {
            addr,
            shared,
            _stop: stop.drop_guard(),
        })
    }

    /// Where sandboxes reach the proxy.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves connections from `ip` under `policy` from now on, replacing any earlier
    /// admission of that address; what they reach is reported to the receiver.
    pub fn admit(
        &self,
        ip: IpAddr,
        policy: RegistryPolicy,
    ) -> mpsc::UnboundedReceiver<HostReached> {
        let (reports, receiver) = mpsc::unbounded_channel();
        self.admit_reporting(ip, policy, reports);
        receiver
    }

    /// As [`Self::admit`], reporting to `reports`: several addresses in turn (a
    /// sandbox whose container is replaced, its setup's container) report to one
    /// session.
    pub fn admit_reporting(
        &self,
        ip: IpAddr,
        policy: RegistryPolicy,
        reports: mpsc::UnboundedSender<HostReached>,
    ) {
        let client = Arc::new(Client {
            policy,
            reports,
            connections: Arc::new(Semaphore::new(self.shared.limits.connections_per_sandbox)),
        });
        self.shared.write().insert(ip.to_canonical(), client);
    }

    /// Stops serving `ip` (its sandbox is gone; the address may be given out again).
    pub fn forget(&self, ip: IpAddr) {
        self.shared.write().remove(&ip.to_canonical());
    }
}

impl Shared {
    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<IpAddr, Arc<Client>>> {
        self.clients
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn client(&self, ip: IpAddr) -> Option<Arc<Client>> {
        let clients = self
            .clients
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        clients.get(&ip.to_canonical()).cloned()
    }
}

async fn accept(listener: TcpListener, shared: Arc<Shared>, stop: CancellationToken) {
    loop {
        let accepted = tokio::select! {
            () = stop.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((conn, peer)) => {
                let (shared, stop) = (shared.clone(), stop.clone());
                tokio::spawn(async move {
                    tokio::select! {
                        () = stop.cancelled() => {}
                        () = serve(conn, peer.ip(), shared) => {}
                    }
                });
            }
            Err(e) => {
                // Out of file descriptors, most likely: let some connections end.
                tracing::warn!(error = %e, "the registry proxy cannot accept a connection");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

#[tracing::instrument(name = "registry_proxy", skip_all, fields(sandbox = %peer))]
async fn serve(mut conn: TcpStream, peer: IpAddr, shared: Arc<Shared>) {
    let Some(client) = shared.client(peer) else {
        tracing::info!("refused a connection from an address that is no sandbox of this lucid");
        return answer(&mut conn, 403, "this address is no sandbox of this lucid").await;
    };
    let Ok(_permit) = client.connections.clone().try_acquire_owned() else {
        return answer(&mut conn, 503, "too many connections at once").await;
    };
    let limits = shared.limits;
    let Some((head, request)) = read_request(&mut conn, &limits).await else {
        return;
    };
    let mut report = HostReached::new(&request.host, request.port);
    let upstream = match reach(&client.policy, &request.host, request.port, &limits).await {
        Ok(upstream) => upstream,
        Err(unreachable) => {
            let (code, why) = match unreachable {
                Unreachable::Refused(why) => {
                    tracing::info!(host = %request.host, port = request.port, reason = %why, "refused");
                    report.refused = Some(why.clone());
                    (403, why)
                }
                Unreachable::Failed(why) => {
                    report.error = Some(why.clone());
                    (502, why)
                }
            };
            // Reported first: the answer lingers while the sandbox finishes sending.
            let _ = client.reports.send(report);
            return answer(&mut conn, code, &why).await;
        }
    };
    let _ = (conn.set_nodelay(true), upstream.set_nodelay(true));
    let meter = Meter::new();
    let ended = match &request.forward {
        None => {
            pipe::tunnel(
                conn,
                upstream,
                head.rest(),
                meter.clone(),
                limits.idle_timeout,
            )
            .await
        }
        Some(forward) => {
            let limits = (limits.max_head, limits.idle_timeout);
            pipe::forward(conn, upstream, forward, head.rest(), meter.clone(), limits).await
        }
    };
    (report.bytes_up, report.bytes_down) = meter.totals();
    report.error = ended
        .err()
        .and_then(|e| worth_reporting(e, limits.idle_timeout));
    tracing::debug!(host = %report.host, up = report.bytes_up, down = report.bytes_down, "done");
    let _ = client.reports.send(report);
}

/// The request's head, parsed; or None once the sandbox has been told why not.
async fn read_request(
    conn: &mut TcpStream,
    limits: &ProxyLimits,
) -> Option<(head::Head, head::Request)> {
    let read = head::read_head(conn, limits.max_head, false, Vec::new());
    let (code, why) = match timeout(limits.head_timeout, read).await {
        Ok(Ok(head)) => match head::parse_request(&head) {
            Ok(request) => return Some((head, request)),
            Err(why) => (400, why),
        },
        Ok(Err(HeadError::TooLarge)) => (431, "request head too large".to_owned()),
        Ok(Err(HeadError::Malformed(why))) => (400, why),
        Ok(Err(HeadError::Closed | HeadError::Io(_))) => return None,
        Err(_) => (408, "the request head came too slowly".to_owned()),
    };
    answer(conn, code, &why).await;
    None
}

/// A reset or a broken pipe is how connections often end; a cut for idleness or a
/// registry that broke off mid-answer is worth saying.
fn worth_reporting(e: io::Error, idle: Duration) -> Option<String> {
    match e.kind() {
        io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe => None,
        io::ErrorKind::TimedOut => Some(format!(
            "cut after {} without traffic",
            humantime::format_duration(idle)
        )),
        _ => Some(e.to_string()),
    }
}

/// A short answer from the proxy itself, after which the connection closes.
async fn answer(conn: &mut TcpStream, code: u16, why: &str) {
    let reason = match code {
        400 => "Bad Request",
        403 => "Forbidden",
        408 => "Request Timeout",
        431 => "Request Header Fields Too Large",
        502 => "Bad Gateway",
        _ => "Service Unavailable",
    };
    let body = format!("lucid registry proxy: {why}\n");
    let text = format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = conn.write_all(text.as_bytes()).await;
    let _ = conn.shutdown().await;
    // Closing with unread bytes would send a reset that can destroy the answer before
    // the sandbox reads it: take what it still sends, briefly.
    let mut sink = [0u8; 4096];
    let drain = async { while matches!(conn.read(&mut sink).await, Ok(n) if n > 0) {} };
    let _ = timeout(Duration::from_secs(1), drain).await;
}
