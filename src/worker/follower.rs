//! A session's thread, kept current while its run lasts, the same way on every
//! platform: one status message, posted (or taken over from the acknowledgement) and
//! edited in place at most once per the platform's interval, its clock refreshed now
//! and then; key moments as replies where the platform takes them, coalesced when
//! they pile up and never dropped. The last update is never held back: when the run
//! ends the thread is written once more, so a session never ends silently.
//!
//! The event log is what the thread is written from: when the platform does not
//! take a write (its API down, answering 5xx), the follower waits with [`backoff`]
//! and then writes whatever the log holds that the thread does not show yet; the
//! run's last write is tried until it lands.

use super::backoff::{self, Backoff};
use crate::chat::holds::{Holds, key_of};
use crate::chat::{ChatPlatform, REPLIED, Rendered, STATUS, StatusView};
use crate::core::digest::{Digest, moments};
use crate::core::event::current_run;
use crate::core::{Event, Session, SessionId, ThreadRef, Timestamp};
use crate::messages;
use crate::store::Store;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// How long a new session's follower waits for the acknowledgement (posted by another
/// replica) before posting a status message of its own.
const ACK_GRACE: Duration = Duration::from_secs(3);

pub struct Follower {
    pub platform: Arc<dyn ChatPlatform>,
    pub store: Store,
    pub holds: Arc<Holds>,
    pub session: SessionId,
    /// The thread the session had when it was claimed: its acknowledgement is held
    /// under this one. Writes go to the session's thread as the store has it now,
    /// which a platform may have moved (Discord's command starts a thread of its own).
    pub thread: ThreadRef,
    pub session_url: String,
}

/// What the thread shows so far.
struct Shown {
    status_id: Option<String>,
    /// The status as last written, rendered at the session's start (elapsed time
    /// zero), so that a change of the clock alone does not count as a change.
    status_key: Option<Rendered>,
    /// The status as last written.
    status_body: Option<Rendered>,
    /// A change not yet written, held back by the interval.
    pending: bool,
    /// The run's events read so far.
    events: Vec<Event>,
    /// The seq through which moments are in the thread.
    replied: u64,
    last_update: Instant,
    /// When moments were last replied, and whether some wait for the reply interval.
    last_reply: Instant,
    replies_held: bool,
    /// The run's ending was said in the thread.
    ended: bool,
}

impl Shown {
    /// When the thread is next written, if nothing new comes: a change held back by
    /// the edit interval, moments by the reply interval, else the clock's refresh.
    fn next_write(&self, pacing: &crate::chat::Pacing) -> Instant {
        let due = if self.pending {
            self.last_update + pacing.edit_interval
        } else {
            self.last_update + pacing.clock_refresh
        };
        if self.replies_held {
            due.min(self.last_reply + pacing.reply_interval)
        } else {
            due
        }
    }
}

impl Follower {
    /// Keeps the thread current until `done`; then writes it one last time, trying
    /// again with backoff while the platform does not take it (until `shutdown`, or
    /// for at most [`backoff::FINAL_PATIENCE`]). Each try writes the whole difference
    /// between the event log and the thread, so an outage delays the thread, and loses
    /// or repeats nothing.
    pub async fn follow(self, done: CancellationToken, shutdown: CancellationToken) {
        let mut news = self.store.watch(self.session);
        let mut shown = match self.start().await {
            Ok(shown) => shown,
            Err(e) => {
                tracing::warn!(session = %self.session, error = %e, "could not read the thread's state");
                return;
            }
        };
        let pacing = self.platform.pacing();
        let mut retry = Backoff::default();
        let mut final_deadline = None;
        loop {
            let finishing = done.is_cancelled();
            let writing = crate::metrics::Pending::on(&self.platform.platform());
            let caught_up = self.catch_up_within(&mut shown, finishing).await;
            drop(writing);
            match caught_up {
                Ok(()) if finishing => return,
                Ok(()) => retry.succeeded(),
                Err(e) => {
                    let wait = retry.failed();
                    tracing::warn!(
                        session = %self.session, platform = %self.platform.platform(),
                        error = %format!("{e:#}"), failures = retry.failures(),
                        retry_in_ms = wait.as_millis() as u64,
                        "could not update the thread; it is caught up from the log when the platform answers"
                    );
                }
            }
            if finishing {
                let deadline =
                    *final_deadline.get_or_insert_with(|| Instant::now() + backoff::FINAL_PATIENCE);
                if shutdown.is_cancelled() || Instant::now() >= deadline {
                    tracing::error!(
                        session = %self.session, platform = %self.platform.platform(),
                        "gave up writing the end of a session in its thread"
                    );
                    return;
                }
            }
            // While writes fail, news waits for the next try: it reads the log.
            let due = retry.due().unwrap_or_else(|| shown.next_write(&pacing));
            let backing_off = retry.due().is_some();
            tokio::select! {
                () = done.cancelled(), if !finishing => {}
                () = shutdown.cancelled(), if finishing => {}
                () = tokio::time::sleep_until(due.max(Instant::now() + Duration::from_millis(50))) => {}
                () = news.announced(), if !finishing && !backing_off => {}
            }
        }
    }

    /// [`Self::catch_up`], failed when the platform takes connections and never
    /// answers.
    async fn catch_up_within(&self, shown: &mut Shown, finishing: bool) -> anyhow::Result<()> {
        tokio::time::timeout(backoff::WRITE_TIMEOUT, self.catch_up(shown, finishing))
            .await
            .unwrap_or_else(|_| {
                Err(anyhow::anyhow!(
                    "the platform did not answer within {:?}",
                    backoff::WRITE_TIMEOUT
                ))
            })
    }

    async fn start(&self) -> anyhow::Result<Shown> {
        self.holds.settled(&key_of(&self.thread)).await;
        let mut status_id = self.store.thread_message(self.session, STATUS).await?;
        if status_id.is_none() && self.platform.pacing().status_first {
            // Another replica may be posting the acknowledgement right now.
            let deadline = Instant::now() + ACK_GRACE;
            while status_id.is_none() && Instant::now() < deadline && self.is_new().await {
                tokio::time::sleep(Duration::from_millis(100)).await;
                status_id = self.store.thread_message(self.session, STATUS).await?;
            }
        }
        let replied = self
            .store
            .thread_message(self.session, REPLIED)
            .await?
            .and_then(|seq| seq.parse().ok())
            .unwrap_or(0);
        Ok(Shown {
            status_id,
            status_key: None,
            status_body: None,
            pending: false,
            events: Vec::new(),
            replied,
            last_update: Instant::now() - self.platform.pacing().edit_interval,
            last_reply: Instant::now() - self.platform.pacing().reply_interval,
            replies_held: false,
            ended: false,
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

    /// Posts the moments not yet in the thread, and writes the status message when
    /// the interval allows (always when `finishing`).
    async fn catch_up(&self, shown: &mut Shown, finishing: bool) -> anyhow::Result<()> {
        let Some(session) = self.store.session(self.session).await? else {
            return Ok(());
        };
        self.store
            .catch_up_events(self.session, &mut shown.events)
            .await?;
        // Out of `shown` while the writes below update the rest of it.
        let events = std::mem::take(&mut shown.events);
        let run = current_run(&events);
        let written = self.write_status(shown, &session, run, finishing).await;
        let replied = self.reply(shown, &session, run, finishing).await;
        shown.events = events;
        written.and(replied)
    }

    async fn write_status(
        &self,
        shown: &mut Shown,
        session: &Session,
        run: &[Event],
        finishing: bool,
    ) -> anyhow::Result<()> {
        let pacing = self.platform.pacing();
        let view = |now| StatusView {
            session,
            events: run,
            now,
            session_url: &self.session_url,
        };
        let key = self.platform.render_status(&view(session.created_at));
        let changed = shown.status_key.as_ref() != Some(&key);
        let since = shown.last_update.elapsed();
        let write = changed && (finishing || since >= pacing.edit_interval)
            || since >= pacing.clock_refresh;
        shown.pending = changed && !write;
        if !write {
            return Ok(());
        }
        let body = self.platform.render_status(&view(Timestamp::now()));
        if shown.status_body.as_ref() != Some(&body) {
            match &shown.status_id {
                Some(id) => {
                    self.platform
                        .update_status(&session.trigger.thread, id, &body)
                        .await?
                }
                None => {
                    let id = self
                        .platform
                        .post_status(&session.trigger.thread, &body)
                        .await?;
                    crate::metrics::first_thread_message(
                        &self.platform.platform(),
                        session.created_at,
                    );
                    // Kept before it is stored: a store that fails now must not
                    // have a second status message posted.
                    shown.status_id = Some(id.clone());
                    self.store
                        .set_thread_message(self.session, STATUS, &id)
                        .await?;
                }
            }
            shown.status_body = Some(body);
        }
        shown.status_key = Some(key);
        shown.last_update = Instant::now();
        Ok(())
    }

    /// The moments since the last reply, and the ending once the run is over, where
    /// the platform takes replies. What lands is marked at once, reply by reply, so
    /// that a write that fails halfway (the platform down) repeats nothing when it is
    /// tried again.
    async fn reply(
        &self,
        shown: &mut Shown,
        session: &Session,
        run: &[Event],
        finishing: bool,
    ) -> anyhow::Result<()> {
        let pacing = self.platform.pacing();
        let Some(max_chars) = pacing.replies else {
            return Ok(());
        };
        let split = run.partition_point(|e| e.seq <= shown.replied);
        let new = &run[split..];
        shown.replies_held =
            !finishing && !new.is_empty() && shown.last_reply.elapsed() < pacing.reply_interval;
        if shown.replies_held {
            return Ok(());
        }
        // Each reply with the seq of the last event it tells of.
        let mut replies: Vec<(String, u64)> = Vec::new();
        for at in split..run.len() {
            let event = std::slice::from_ref(&run[at]);
            for moment in moments(&run[..at], event) {
                let said = messages::moment(&moment, &self.session_url);
                replies.push((self.platform.render(&said), run[at].seq));
            }
        }
        let through = new.last().map_or(shown.replied, |e| e.seq);
        let ending = if finishing && session.state.is_terminal() && !shown.ended {
            messages::ending(session, &Digest::read(run))
        } else {
            None
        };
        let ends = ending.is_some();
        if let Some(last) = ending {
            replies.push((self.platform.render(&last), through));
        }
        let replies = coalesce_through(replies, max_chars);
        let count = replies.len();
        for (n, (reply, seq)) in replies.into_iter().enumerate() {
            self.platform.say(&session.trigger.thread, &reply).await?;
            shown.last_reply = Instant::now();
            shown.ended |= ends && n + 1 == count;
            self.mark_replied(shown, seq).await?;
        }
        self.mark_replied(shown, through).await
    }

    /// The thread tells of the run's events through `seq`.
    async fn mark_replied(&self, shown: &mut Shown, seq: u64) -> anyhow::Result<()> {
        if seq <= shown.replied {
            return Ok(());
        }
        shown.replied = seq;
        self.store
            .set_thread_message(self.session, REPLIED, &seq.to_string())
            .await?;
        Ok(())
    }
}

/// [`crate::chat::coalesce`], each reply keeping the highest seq of what went into it.
fn coalesce_through(replies: Vec<(String, u64)>, max: usize) -> Vec<(String, u64)> {
    let mut merged: Vec<(String, u64)> = Vec::new();
    for (reply, seq) in replies {
        match merged.last_mut() {
            Some((last, through)) if last.chars().count() + 2 + reply.chars().count() <= max => {
                last.push_str("\n\n");
                last.push_str(&reply);
                *through = (*through).max(seq);
            }
            _ => merged.push((messages::shorten(&reply, max), seq)),
        }
    }
    merged
}
