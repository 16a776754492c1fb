//! A TCP proxy the tests own, between lucid and a server other tests share (the
//! PostgreSQL server): pulled out, it refuses new connections and cuts the open ones
//! as a server that went away does; plugged back in, it listens on the same port.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{AbortHandle, JoinHandle};

pub struct Plug {
    /// Where lucid connects.
    pub addr: SocketAddr,
    upstream: SocketAddr,
    /// The task that accepts (None while unplugged), and every link made so far.
    accepting: Mutex<Option<JoinHandle<()>>>,
    links: Arc<Mutex<Vec<AbortHandle>>>,
}

impl Plug {
    /// A proxy to `upstream`, plugged in.
    pub async fn to(upstream: SocketAddr) -> Plug {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let plug = Plug {
            addr: listener.local_addr().unwrap(),
            upstream,
            accepting: Mutex::new(None),
            links: Arc::default(),
        };
        plug.accept_on(listener);
        plug
    }

    fn accept_on(&self, listener: TcpListener) {
        let (upstream, links) = (self.upstream, self.links.clone());
        let task = tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                let link = tokio::spawn(forward(inbound, upstream));
                links.lock().unwrap().push(link.abort_handle());
            }
        });
        *self.accepting.lock().unwrap() = Some(task);
    }

    /// Refuses new connections (the port is closed) and cuts every open one.
    pub async fn unplug(&self) {
        let accepting = self.accepting.lock().unwrap().take();
        if let Some(task) = accepting {
            task.abort();
            let _ = task.await;
        }
        for link in self.links.lock().unwrap().drain(..) {
            link.abort();
        }
    }

    /// Listens again on the same port.
    pub async fn plug(&self) {
        let listener = TcpListener::bind(self.addr).await.unwrap();
        self.accept_on(listener);
    }
}

/// Carries bytes both ways until either side closes; aborted, both sockets are reset.
async fn forward(mut inbound: TcpStream, upstream: SocketAddr) {
    let Ok(mut outbound) = TcpStream::connect(upstream).await else {
        return;
    };
    // A cut resets the connection rather than closing it politely.
    let _ = inbound.set_zero_linger();
    let _ = outbound.set_zero_linger();
    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
}
