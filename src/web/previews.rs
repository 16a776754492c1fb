//! The live previews this lucid serves: a session's published port, by the address
//! its sandbox has on the host's side of Docker's network. The worker opens one when
//! asked and closes it when the sandbox goes; `/preview/<session>/` reads it.

use crate::core::SessionId;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;

#[derive(Default)]
pub struct Previews {
    open: Mutex<HashMap<SessionId, SocketAddr>>,
}

impl Previews {
    /// Serves `session`'s preview from `target` (one port a session: the last asked).
    pub fn open(&self, session: SessionId, target: SocketAddr) {
        self.lock().insert(session, target);
    }

    /// Stops serving `session`'s preview (its sandbox is gone).
    pub fn close(&self, session: SessionId) {
        self.lock().remove(&session);
    }

    /// Where `session`'s preview is served from, while it is open.
    pub fn target(&self, session: SessionId) -> Option<SocketAddr> {
        self.lock().get(&session).copied()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<SessionId, SocketAddr>> {
        // A panic elsewhere cannot leave the map half-written: it is one insert.
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }
}
