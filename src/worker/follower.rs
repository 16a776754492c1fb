//! A session's thread, kept current while its run lasts, the same way on every
//! platform: one status message, posted (or taken over from the acknowledgement) and
//! edited in place at most once per the platform's interval, its clock refreshed now
//! and then; key moments as replies where the platform takes them, coalesced when
//! they pile up and never dropped. The last update is never held back: when the run
//! ends the thread is written once more, so a session never ends silently.

use crate::chat::holds::{Holds, key_of};
use crate::chat::{ChatPlatform, REPLIED, Rendered, STATUS, StatusView, coalesce};
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
}

impl Follower {
    /// Keeps the thread current until `done`; then writes it one last time.
    pub async fn follow(self, done: CancellationToken) {
        let mut news = self.store.watch(self.session);
        let mut shown = match self.start().await {
            Ok(shown) => shown,
            Err(e) => {
                tracing::warn!(session = %self.session, error = %e, "could not read the thread's state");
                return;
            }
        };
        let pacing = self.platform.pacing();
        loop {
            let finishing = done.is_cancelled();
            if let Err(e) = self.catch_up(&mut shown, finishing).await {
                tracing::warn!(session = %self.session, platform = %self.platform.platform(), error = %e, "could not update the thread");
            }
            if finishing {
                return;
            }
            let mut due = if shown.pending {
                shown.last_update + pacing.edit_interval
            } else {
                shown.last_update + pacing.clock_refresh
            };
            if shown.replies_held {
                due = due.min(shown.last_reply + pacing.reply_interval);
            }
            tokio::select! {
                () = done.cancelled() => {}
                () = tokio::time::sleep_until(due.max(Instant::now() + Duration::from_millis(50))) => {}
                () = news.announced() => {}
            }
        }
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
                    self.store
                        .set_thread_message(self.session, STATUS, &id)
                        .await?;
                    shown.status_id = Some(id);
                }
            }
            shown.status_body = Some(body);
        }
        shown.status_key = Some(key);
        shown.last_update = Instant::now();
        Ok(())
    }

    /// The moments since the last reply, and the ending once the run is over, where
    /// the platform takes replies.
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
        let (before, new) = run.split_at(split);
        shown.replies_held =
            !finishing && !new.is_empty() && shown.last_reply.elapsed() < pacing.reply_interval;
        if shown.replies_held {
            return Ok(());
        }
        let mut replies: Vec<String> = moments(before, new)
            .iter()
            .map(|moment| {
                self.platform
                    .render(&messages::moment(moment, &self.session_url))
            })
            .collect();
        if finishing
            && session.state.is_terminal()
            && let Some(last) = messages::ending(session, &Digest::read(run))
        {
            replies.push(self.platform.render(&last));
        }
        for reply in coalesce(replies, max_chars) {
            self.platform.say(&session.trigger.thread, &reply).await?;
            shown.last_reply = Instant::now();
        }
        if let Some(last) = new.last().map(|e| e.seq) {
            shown.replied = last;
            self.store
                .set_thread_message(self.session, REPLIED, &last.to_string())
                .await?;
        }
        Ok(())
    }
}
