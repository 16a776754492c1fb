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
//! run's last write is tried until it lands. The store marks that last write pending
//! until then, so that a lucid that stops or dies before it lands leaves it to the
//! next one ([`super::sweep`]), which writes it the same way.

use super::backoff::{self, Backoff};
use super::end_hold::EndHold;
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

/// `thread_messages` purpose: the last event of the run whose ending is in the thread,
/// so that a follower started again (after a restart) says no ending twice.
const ENDED: &str = "ended";

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
    /// This follower's name on the session's pending end (unique to it), and how long
    /// its hold lasts unrenewed.
    pub holder: String,
    pub lease: Duration,
}

/// What came of one try of the thread's last write.
enum LastWrite {
    Landed,
    /// Another lucid claimed the pending end: this follower stops.
    Taken,
    Failed(anyhow::Error),
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
    /// The last event of the run whose ending was said in the thread (0: none yet).
    ended_through: u64,
}

impl Shown {
    /// Whether the ending of `run` is in the thread.
    fn ended(&self, run: &[Event]) -> bool {
        run.first()
            .is_some_and(|first| self.ended_through >= first.seq)
    }

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
    /// or repeats nothing. The session's end is marked pending in the store first, so
    /// that if this lucid stops before the last write lands, another writes it.
    pub async fn follow(self, done: CancellationToken, shutdown: CancellationToken) {
        let marked = self.mark_end_pending().await;
        let mut shown = match self.start().await {
            Ok(shown) => shown,
            Err(e) => {
                tracing::warn!(session = %self.session, error = %e, "could not read the thread's state");
                return;
            }
        };
        let mut retry = Backoff::default();
        self.keep_current(&mut shown, &mut retry, &done).await;
        let patience = Instant::now() + backoff::FINAL_PATIENCE;
        self.finish(shown, retry, patience, marked, &shutdown).await;
    }

    /// Writes the end of a finished session whose pending end this follower claimed
    /// (a sweep's): as [`Self::follow`] would have after the run, its patience counted
    /// from the session's end.
    pub async fn finish_pending(self, ended_at: Timestamp, shutdown: CancellationToken) {
        let shown = match self.start().await {
            Ok(shown) => shown,
            Err(e) => {
                tracing::warn!(session = %self.session, error = %e, "could not read the thread's state");
                self.end_hold().release().await;
                return;
            }
        };
        let since_end = Timestamp::now().as_millis() - ended_at.as_millis();
        let since_end = Duration::from_millis(u64::try_from(since_end).unwrap_or(0));
        let patience = Instant::now() + backoff::FINAL_PATIENCE.saturating_sub(since_end);
        tracing::info!(session = %self.session, "writing the end of a session that another run of lucid left unwritten");
        self.finish(shown, Backoff::default(), patience, true, &shutdown)
            .await;
    }

    /// Marks the session's end as not yet in the thread, held by this follower. When
    /// the store does not take it, the end is written by this lucid only, as before.
    async fn mark_end_pending(&self) -> bool {
        let marked = self
            .store
            .mark_end_pending(self.session, &self.holder, self.lease, Timestamp::now())
            .await;
        if let Err(e) = &marked {
            tracing::warn!(
                session = %self.session, error = %e,
                "could not mark the session's end pending: only this lucid will write it"
            );
        }
        marked.is_ok()
    }

    fn end_hold(&self) -> EndHold<'_> {
        EndHold {
            store: &self.store,
            session: self.session,
            holder: &self.holder,
            lease: self.lease,
        }
    }

    /// Keeps the thread current while the run lasts, until `done`.
    async fn keep_current(&self, shown: &mut Shown, retry: &mut Backoff, done: &CancellationToken) {
        let mut news = self.store.watch(self.session);
        let pacing = self.platform.pacing();
        while !done.is_cancelled() {
            let writing = crate::metrics::Pending::on(&self.platform.platform());
            let caught_up = self.catch_up_within(shown, false).await;
            drop(writing);
            match caught_up {
                Ok(()) => retry.succeeded(),
                Err(e) => self.failed(retry, &e),
            }
            // While writes fail, news waits for the next try: it reads the log.
            let due = retry.due().unwrap_or_else(|| shown.next_write(&pacing));
            let backing_off = retry.due().is_some();
            tokio::select! {
                () = done.cancelled() => {}
                () = tokio::time::sleep_until(due.max(Instant::now() + Duration::from_millis(50))) => {}
                () = news.announced(), if !backing_off => {}
            }
        }
    }

    /// The thread's last write, tried until it lands, until `shutdown` (the pending
    /// end let go for the next lucid), or until `patience` runs out (given up, said
    /// loudly). With the end `marked`, each try is made only while this follower holds
    /// it: one another lucid claimed is theirs to write.
    async fn finish(
        &self,
        mut shown: Shown,
        mut retry: Backoff,
        patience: Instant,
        marked: bool,
        shutdown: &CancellationToken,
    ) {
        let hold = marked.then(|| self.end_hold());
        loop {
            match self.try_the_end(&mut shown, hold.as_ref()).await {
                LastWrite::Landed => {
                    if let Some(hold) = &hold {
                        hold.clear().await;
                    }
                    return;
                }
                LastWrite::Taken => {
                    tracing::info!(session = %self.session, "another lucid writes the end of this session");
                    return;
                }
                LastWrite::Failed(e) => self.failed(&mut retry, &e),
            }
            if shutdown.is_cancelled() {
                tracing::warn!(
                    session = %self.session, platform = %self.platform.platform(),
                    "stopping before the end of a session is in its thread; the next lucid writes it"
                );
                if let Some(hold) = &hold {
                    hold.release().await;
                }
                return;
            }
            if Instant::now() >= patience {
                tracing::error!(
                    session = %self.session, platform = %self.platform.platform(),
                    "gave up writing the end of a session in its thread"
                );
                if let Some(hold) = &hold {
                    hold.clear().await;
                }
                return;
            }
            // The hold is kept while waiting too: the wait may be longer than a lease.
            let due = retry.due().unwrap_or_else(Instant::now);
            tokio::select! {
                () = shutdown.cancelled() => {}
                () = tokio::time::sleep_until(due.max(Instant::now() + Duration::from_millis(50))) => {}
                () = EndHold::taken(hold.as_ref()) => {
                    tracing::info!(session = %self.session, "another lucid writes the end of this session");
                    return;
                }
            }
        }
    }

    /// One try of the last write, made while this follower holds the pending end (when
    /// it has one): the hold is renewed before, and kept up during a write that takes
    /// long.
    async fn try_the_end(&self, shown: &mut Shown, hold: Option<&EndHold<'_>>) -> LastWrite {
        if let Some(hold) = hold {
            match hold.renew().await {
                Ok(true) => {}
                Ok(false) => return LastWrite::Taken,
                Err(e) => return LastWrite::Failed(e.into()),
            }
        }
        let writing = crate::metrics::Pending::on(&self.platform.platform());
        let written = tokio::select! {
            written = self.catch_up_within(shown, true) => written,
            () = EndHold::taken(hold) => return LastWrite::Taken,
        };
        drop(writing);
        match written {
            Ok(()) => LastWrite::Landed,
            Err(e) => LastWrite::Failed(e),
        }
    }

    /// A write the platform did not take: the next waits.
    fn failed(&self, retry: &mut Backoff, e: &anyhow::Error) {
        let wait = retry.failed();
        tracing::warn!(
            session = %self.session, platform = %self.platform.platform(),
            error = %format!("{e:#}"), failures = retry.failures(),
            retry_in_ms = wait.as_millis() as u64,
            "could not update the thread; it is caught up from the log when the platform answers"
        );
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
        let replied = self.seq_marked(REPLIED).await?;
        let ended_through = self.seq_marked(ENDED).await?;
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
            ended_through,
        })
    }

    /// The event number kept under `purpose` (0: none).
    async fn seq_marked(&self, purpose: &str) -> anyhow::Result<u64> {
        Ok(self
            .store
            .thread_message(self.session, purpose)
            .await?
            .and_then(|seq| seq.parse().ok())
            .unwrap_or(0))
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
        let ending = if finishing && session.state.is_terminal() && !shown.ended(run) {
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
            // The moments before the ending: a lucid killed between the two marks
            // then says the ending again, never every moment of the reply again.
            self.mark_replied(shown, seq).await?;
            if ends && n + 1 == count {
                self.mark_ended(shown, run).await?;
            }
        }
        self.mark_replied(shown, through).await
    }

    /// The thread has the ending of `run`.
    async fn mark_ended(&self, shown: &mut Shown, run: &[Event]) -> anyhow::Result<()> {
        let through = run.last().map_or(0, |e| e.seq);
        shown.ended_through = through;
        self.store
            .set_thread_message(self.session, ENDED, &through.to_string())
            .await?;
        Ok(())
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
