//! Makes the intake and the follower agree on who posts a thread's status message:
//! the intake holds the thread while it posts the acknowledgement; the follower waits
//! for the hold before it looks for the message.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::OwnedMutexGuard;

#[derive(Default)]
pub struct Holds {
    posting: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// Held while a thread's acknowledgement is being posted.
pub struct Hold {
    key: String,
    owner: Arc<Holds>,
    lock: Arc<tokio::sync::Mutex<()>>,
    _guard: OwnedMutexGuard<()>,
}

impl Drop for Hold {
    fn drop(&mut self) {
        // Only its own entry: a retried request's hold (dropped at once, as a
        // duplicate) must not end the original acknowledgement's.
        let mut posting = self.owner.posting.lock().unwrap();
        if posting
            .get(&self.key)
            .is_some_and(|lock| Arc::ptr_eq(lock, &self.lock))
        {
            posting.remove(&self.key);
        }
    }
}

impl Holds {
    /// Takes the thread (by a key unique across platforms) for posting its status
    /// message. A hold taken while another is posting leaves that one in place.
    pub fn hold(self: &Arc<Self>, key: &str) -> Hold {
        let lock = Arc::new(tokio::sync::Mutex::new(()));
        let guard = lock.clone().try_lock_owned().expect("a new lock is free");
        self.posting
            .lock()
            .unwrap()
            .entry(key.to_owned())
            .or_insert_with(|| lock.clone());
        Hold {
            key: key.to_owned(),
            owner: self.clone(),
            lock,
            _guard: guard,
        }
    }

    /// Waits while the thread's acknowledgement is being posted in this process.
    pub async fn settled(&self, key: &str) {
        let lock = self.posting.lock().unwrap().get(key).cloned();
        if let Some(lock) = lock {
            drop(lock.lock().await);
        }
    }
}

/// The key a thread is held by.
pub fn key_of(thread: &crate::core::ThreadRef) -> String {
    format!("{}:{}", thread.platform(), thread.key())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_retrys_hold_does_not_end_the_first_one() {
        let holds = Arc::new(Holds::default());
        let first = holds.hold("slack:T/C/1");
        drop(holds.hold("slack:T/C/1"));
        let settled = holds.settled("slack:T/C/1");
        tokio::pin!(settled);
        // Still held by the first: waiting does not finish…
        assert!(futures::poll!(settled.as_mut()).is_pending());
        drop(first);
        // …until the first is dropped.
        settled.await;
        assert!(holds.posting.lock().unwrap().is_empty());
    }
}
