//! A session's Slack thread, kept current by the worker: the one status message
//! (posted as the webhook's acknowledgement, or here if that never happened) updated
//! in place at most once per `edit_interval`, and key moments as replies, coalesced
//! when they pile up and never dropped. The last update and reply are written when the
//! run ends, so a session never ends silently.

use super::client::{Post, SlackApi};
use super::status::{StatusView, coalesce, ending, moments, status_post};
use crate::core::event::current_run;
use crate::core::{Event, SessionId, Timestamp};
use crate::store::Store;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::OwnedMutexGuard;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// `thread_messages` purposes: the status message's `ts`, and the last event seq whose
/// moments are in the thread (so a run taken over after a crash repeats none).
pub const STATUS: &str = "status";
pub const REPLIED: &str = "replied";
/// How long a new session's worker waits for the webhook's acknowledgement (posted by
/// another replica) before posting a status message of its own.
const ACK_GRACE: Duration = Duration::from_secs(3);
/// How often the status message is updated when nothing but the elapsed time changed:
/// `chat.update` is rate-limited per workspace, and a minute-fresh clock is enough.
const CLOCK_REFRESH: Duration = Duration::from_secs(30);

/// Makes the webhook's acknowledgement and the worker agree on who posts a thread's
/// status message: the webhook holds the thread while it posts; the worker waits.
#[derive(Default)]
pub struct StatusMessages {
    posting: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// Held while the acknowledgement of a thread is being posted.
pub struct Posting {
    key: String,
    owner: Arc<StatusMessages>,
    lock: Arc<tokio::sync::Mutex<()>>,
    _guard: OwnedMutexGuard<()>,
}

impl Drop for Posting {
    fn drop(&mut self) {
        // Only its own entry: a retried event's hold (dropped at once, as a duplicate)
        // must not end the original acknowledgement's.
        let mut posting = self.owner.posting.lock().unwrap();
        if posting
            .get(&self.key)
            .is_some_and(|lock| Arc::ptr_eq(lock, &self.lock))
        {
            posting.remove(&self.key);
        }
    }
}

impl StatusMessages {
    /// Takes the thread (by its key) for posting its status message. A hold taken
    /// while another is posting leaves that one in place.
    pub fn hold(self: &Arc<Self>, thread_key: &str) -> Posting {
        let lock = Arc::new(tokio::sync::Mutex::new(()));
        let guard = lock.clone().try_lock_owned().expect("a new lock is free");
        self.posting
            .lock()
            .unwrap()
            .entry(thread_key.to_owned())
            .or_insert_with(|| lock.clone());
        Posting {
            key: thread_key.to_owned(),
            owner: self.clone(),
            lock,
            _guard: guard,
        }
    }

    /// Waits while the thread's acknowledgement is being posted in this process.
    async fn settled(&self, thread_key: &str) {
        let lock = self.posting.lock().unwrap().get(thread_key).cloned();
        if let Some(lock) = lock {
            drop(lock.lock().await);
        }
    }
}

pub struct SlackThread {
    pub api: Arc<SlackApi>,
    pub store: Store,
    pub status_messages: Arc<StatusMessages>,
    pub channel: String,
    pub thread_ts: String,
    pub thread_key: String,
    pub session: SessionId,
    pub session_url: String,
    pub edit_interval: Duration,
}

/// What the thread shows so far.
struct Shown {
    status_ts: Option<String>,
    /// The status as last written, rendered at the session's start (elapsed time
    /// zero), so that a change of the clock alone does not count as a change.
    status_key: Option<Post>,
    /// A change not yet written, held back by `edit_interval`.
    pending: bool,
    /// The run's events read so far.
    events: Vec<Event>,
    /// The seq through which moments are posted.
    replied: u64,
    last_update: Instant,
}

impl SlackThread {
    /// Keeps the thread current until `done`; then writes it one last time.
    pub async fn follow(self, done: CancellationToken) {
        let mut announced = self.store.subscribe();
        let mut shown = match self.start().await {
            Ok(shown) => shown,
            Err(e) => {
                tracing::warn!(session = %self.session, error = %e, "could not read the Slack thread's state");
                return;
            }
        };
        loop {
            let finishing = done.is_cancelled();
            if let Err(e) = self.catch_up(&mut shown, finishing).await {
                tracing::warn!(session = %self.session, error = %e, "could not update the Slack thread");
            }
            if finishing {
                return;
            }
            let due = if shown.pending {
                shown.last_update + self.edit_interval
            } else {
                shown.last_update + CLOCK_REFRESH
            };
            tokio::select! {
                () = done.cancelled() => {}
                () = tokio::time::sleep_until(due.max(Instant::now() + Duration::from_millis(50))) => {}
                () = news_of(&mut announced, self.session) => {}
            }
        }
    }

    async fn start(&self) -> anyhow::Result<Shown> {
        self.status_messages.settled(&self.thread_key).await;
        let mut status_ts = self.store.thread_message(self.session, STATUS).await?;
        if status_ts.is_none() {
            // Another replica may be posting the acknowledgement right now.
            let deadline = Instant::now() + ACK_GRACE;
            while status_ts.is_none() && Instant::now() < deadline && self.is_new().await {
                tokio::time::sleep(Duration::from_millis(100)).await;
                status_ts = self.store.thread_message(self.session, STATUS).await?;
            }
        }
        let replied = self
            .store
            .thread_message(self.session, REPLIED)
            .await?
            .and_then(|seq| seq.parse().ok())
            .unwrap_or(0);
        Ok(Shown {
            status_ts,
            status_key: None,
            pending: false,
            events: Vec::new(),
            replied,
            last_update: Instant::now() - self.edit_interval,
        })
    }

    async fn is_new(&self) -> bool {
        match self.store.session(self.session).await {
            Ok(Some(session)) => {
                Timestamp::now().as_millis() - session.created_at.as_millis()
                    < ACK_GRACE.as_millis() as i64
            }
            _ => false,
        }
    }

    /// Posts the moments not yet in the thread, and updates the status message when
    /// the interval allows (always when `finishing`).
    async fn catch_up(&self, shown: &mut Shown, finishing: bool) -> anyhow::Result<()> {
        let Some(session) = self.store.session(self.session).await? else {
            return Ok(());
        };
        self.store
            .catch_up_events(self.session, &mut shown.events)
            .await?;
        let run = current_run(&shown.events);
        let split = run.partition_point(|e| e.seq <= shown.replied);
        let (before, new) = run.split_at(split);
        let mut replies = moments(before, new, &self.session_url);
        let ended = finishing && session.state.is_terminal();
        if ended && let Some(last) = ending(&session) {
            replies.push(last);
        }
        let view = |now| StatusView {
            session: &session,
            events: run,
            now,
            session_url: &self.session_url,
        };
        let key = status_post(&view(session.created_at));
        let changed = shown.status_key.as_ref() != Some(&key);
        let since = shown.last_update.elapsed();
        let write = changed && (finishing || since >= self.edit_interval) || since >= CLOCK_REFRESH;
        if write {
            let post = status_post(&view(Timestamp::now()));
            self.write_status(&mut shown.status_ts, &post).await?;
            shown.status_key = Some(key);
            shown.last_update = Instant::now();
        }
        shown.pending = changed && !write;
        for reply in coalesce(replies) {
            self.api
                .post(&self.channel, Some(&self.thread_ts), &Post::text(reply))
                .await?;
        }
        if let Some(last) = new.last().map(|e| e.seq) {
            shown.replied = last;
            self.store
                .set_thread_message(self.session, REPLIED, &last.to_string())
                .await?;
        }
        Ok(())
    }

    async fn write_status(
        &self,
        status_ts: &mut Option<String>,
        post: &Post,
    ) -> anyhow::Result<()> {
        match status_ts {
            Some(ts) => self.api.update(&self.channel, ts, post).await?,
            None => {
                let ts = self
                    .api
                    .post(&self.channel, Some(&self.thread_ts), post)
                    .await?;
                self.store
                    .set_thread_message(self.session, STATUS, &ts)
                    .await?;
                *status_ts = Some(ts);
            }
        }
        Ok(())
    }
}

/// Resolves when `session` has news (or news may have been missed).
async fn news_of(announced: &mut tokio::sync::broadcast::Receiver<SessionId>, session: SessionId) {
    use tokio::sync::broadcast::error::RecvError;
    loop {
        match announced.recv().await {
            Ok(id) if id == session => return,
            Ok(_) => {}
            Err(RecvError::Lagged(_)) => return,
            Err(RecvError::Closed) => std::future::pending::<()>().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_retrys_hold_does_not_end_the_first_one() {
        let messages = Arc::new(StatusMessages::default());
        let first = messages.hold("T/C/1");
        drop(messages.hold("T/C/1"));
        let settled = messages.settled("T/C/1");
        tokio::pin!(settled);
        // Still held by the first: waiting does not finish…
        assert!(futures::poll!(settled.as_mut()).is_pending());
        drop(first);
        // …until the first is dropped.
        settled.await;
        assert!(messages.posting.lock().unwrap().is_empty());
    }
}
