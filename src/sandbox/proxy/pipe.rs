//! Moving bytes between a sandbox and a registry: streamed through fixed buffers,
//! counted on the registry's side, and cut when neither way moves for too long.

use super::head::{self, HeadError};
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufReader, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Instant;

/// Per direction of a connection. Measured (benches/proxy.rs): 64 KiB took twice the
/// direct download's time over loopback, 256 KiB two thirds more. With a sandbox's
/// connections capped (`ProxyLimits`), a sandbox holds at most 32 MiB of them.
const BUFFER: usize = 256 * 1024;

/// Bytes each way and when the last one moved.
pub struct Meter {
    pub up: AtomicU64,
    pub down: AtomicU64,
    started: Instant,
    /// Milliseconds after `started` of the last byte either way.
    last: AtomicU64,
}

impl Meter {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            up: AtomicU64::new(0),
            down: AtomicU64::new(0),
            started: Instant::now(),
            last: AtomicU64::new(0),
        })
    }

    pub fn totals(&self) -> (u64, u64) {
        (
            self.up.load(Ordering::Relaxed),
            self.down.load(Ordering::Relaxed),
        )
    }

    fn stamp(&self) {
        let now = self.started.elapsed().as_millis() as u64;
        self.last.store(now, Ordering::Relaxed);
    }

    /// Returns once nothing has moved either way for `idle`.
    pub async fn idle_for(&self, idle: Duration) {
        loop {
            let last = self.started + Duration::from_millis(self.last.load(Ordering::Relaxed));
            if last.elapsed() >= idle {
                return;
            }
            tokio::time::sleep_until(last + idle).await;
        }
    }
}

/// The registry's side of a connection: reading counts bytes down, writing bytes up.
pub struct Metered<S> {
    inner: S,
    meter: Arc<Meter>,
}

impl<S> Metered<S> {
    pub fn new(inner: S, meter: Arc<Meter>) -> Self {
        Self { inner, meter }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Metered<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        let read = (buf.filled().len() - before) as u64;
        if read > 0 {
            self.meter.down.fetch_add(read, Ordering::Relaxed);
            self.meter.stamp();
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Metered<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = polled
            && n > 0
        {
            self.meter.up.fetch_add(n as u64, Ordering::Relaxed);
            self.meter.stamp();
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A CONNECT tunnel: bytes both ways until both sides are done, or it goes idle.
pub async fn tunnel(
    mut client: TcpStream,
    upstream: TcpStream,
    early: &[u8],
    meter: Arc<Meter>,
    idle: Duration,
) -> io::Result<()> {
    let mut upstream = Metered::new(upstream, meter.clone());
    upstream.write_all(early).await?;
    client
        .write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
        .await?;
    tokio::select! {
        copied = tokio::io::copy_bidirectional_with_sizes(&mut client, &mut upstream, BUFFER, BUFFER) => copied.map(drop),
        () = meter.idle_for(idle) => Err(io::ErrorKind::TimedOut.into()),
    }
}

/// One plain request: its head (rewritten) and body to the registry, the response
/// back (its head rewritten to close), until the registry has answered in full.
pub async fn forward(
    client: TcpStream,
    upstream: TcpStream,
    request: &[u8],
    early: &[u8],
    meter: Arc<Meter>,
    limits: (usize, Duration),
) -> io::Result<()> {
    let (max_head, idle) = limits;
    let (client_in, mut client_out) = client.into_split();
    let (up_in, up_out) = upstream.into_split();
    let mut up_out = Metered::new(up_out, meter.clone());
    let mut up_in = BufReader::with_capacity(BUFFER, Metered::new(up_in, meter.clone()));
    up_out.write_all(request).await?;
    up_out.write_all(early).await?;
    let upload = async {
        let mut client_in = BufReader::with_capacity(BUFFER, client_in);
        let _ = tokio::io::copy_buf(&mut client_in, &mut up_out).await;
        // The response decides when this ends, not the end of the request body.
        std::future::pending::<()>().await;
    };
    let download = async {
        relay_response_head(&mut up_in, &mut client_out, max_head).await?;
        tokio::io::copy_buf(&mut up_in, &mut client_out).await?;
        client_out.shutdown().await
    };
    tokio::select! {
        done = download => done,
        () = upload => Ok(()),
        () = meter.idle_for(idle) => Err(io::ErrorKind::TimedOut.into()),
    }
}

/// Passes interim (1xx) heads on as they are, then the final head rewritten.
async fn relay_response_head(
    up_in: &mut BufReader<Metered<tokio::net::tcp::OwnedReadHalf>>,
    client_out: &mut tokio::net::tcp::OwnedWriteHalf,
    max_head: usize,
) -> io::Result<()> {
    let mut carried = Vec::new();
    loop {
        let head = head::read_head(up_in, max_head, true, carried)
            .await
            .map_err(response_error)?;
        let (code, rewritten) = head::rewrite_response(&head).map_err(io::Error::other)?;
        // 101 cannot come (Upgrade is not passed on); a 1xx is followed by another head.
        if (100..200).contains(&code) && code != 101 {
            client_out.write_all(&head.bytes[..head.len]).await?;
            carried = head.rest().to_vec();
            continue;
        }
        client_out.write_all(&rewritten).await?;
        return client_out.write_all(head.rest()).await;
    }
}

fn response_error(e: HeadError) -> io::Error {
    io::Error::other(match e {
        HeadError::Closed => "the registry closed without answering".to_owned(),
        HeadError::TooLarge => "the registry's answer head is too large".to_owned(),
        HeadError::Malformed(why) | HeadError::Io(why) => why,
    })
}
