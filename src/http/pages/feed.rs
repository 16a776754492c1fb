//! One session's timeline as it grows, read from the store and rendered once for all
//! of its viewers. The first viewer of a session starts its feed; the feed follows the
//! store (woken by the session's news), renders each new event and the header's
//! moving parts once, and hands them to every viewer over a broadcast channel; it ends
//! when the session has finished or nobody watches any more. A viewer catches up on
//! what came before from the store itself, and falls back to the store whenever it
//! sees a gap (it fell behind the channel, or joined between two reads), so no viewer
//! misses an event or gets one twice.

use super::list::took;
use super::session::{spent_words, usage_of};
use super::timeline;
use crate::core::{Session, SessionId, Timestamp, Usage};
use crate::messages::page::WORDS;
use crate::messages::state_words;
use crate::store::Store;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::sync::broadcast;

/// Updates a slow viewer may fall behind by before it reads the store instead.
const CHANNEL: usize = 4_096;
const BATCH: u32 = 500;
/// How often the header moves while nothing happens, and at most how often it is
/// sent while events pour in (a state change is sent at once).
const HEAD_EVERY: Duration = Duration::from_secs(5);
const HEAD_AT_MOST_EVERY: Duration = Duration::from_millis(500);

#[derive(Debug)]
pub(super) enum Update {
    /// An event as the page's list item (empty for events shown elsewhere).
    Item { seq: u64, html: Arc<str> },
    /// The header's state, time and spending, as JSON, and the last event the feed
    /// has read: a viewer that joined after the feed's first read catches up on what
    /// the feed began after from the store.
    Head { through: u64, json: Arc<str> },
    /// The session has finished and every event was sent.
    End,
}

/// The live feeds, one per watched session.
#[derive(Default)]
pub struct Feeds {
    live: Mutex<HashMap<SessionId, Weak<Feed>>>,
}

pub(super) struct Feed {
    sender: broadcast::Sender<Arc<Update>>,
}

impl Feeds {
    /// The session's feed, started if nobody watches it yet. Subscribe before
    /// catching up from the store, so that nothing written in between is missed.
    pub(super) fn follow(
        &self,
        store: &Store,
        id: SessionId,
    ) -> (Arc<Feed>, broadcast::Receiver<Arc<Update>>) {
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(feed) = live.get(&id).and_then(Weak::upgrade) {
            let receiver = feed.sender.subscribe();
            return (feed, receiver);
        }
        live.retain(|_, feed| feed.strong_count() > 0);
        let (sender, receiver) = broadcast::channel(CHANNEL);
        let feed = Arc::new(Feed { sender });
        live.insert(id, Arc::downgrade(&feed));
        tokio::spawn(run(store.clone(), id, Arc::downgrade(&feed)));
        (feed, receiver)
    }
}

/// Follows the store for one session until it ends or its last viewer leaves.
async fn run(store: Store, id: SessionId, feed: Weak<Feed>) {
    let mut watch = store.watch(id);
    let Ok(Some(mut last)) = store.last_seq(id).await else {
        return;
    };
    let mut usage: Option<Usage> = None;
    let mut shown_state = None;
    let mut head_sent = tokio::time::Instant::now() - HEAD_EVERY;
    loop {
        let Some(sender) = feed.upgrade().map(|f| f.sender.clone()) else {
            return;
        };
        let (Ok(Some(session)), Ok(batch)) = (
            store.session(id).await,
            store.events_after(id, last, BATCH).await,
        ) else {
            // The store is down: viewers read it themselves when it is back.
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        };
        let full = batch.len() == BATCH as usize;
        for event in &batch {
            last = event.seq;
            usage = usage_of(event).or(usage);
            let html: Arc<str> = timeline::render(event).into();
            let _ = sender.send(Arc::new(Update::Item {
                seq: event.seq,
                html,
            }));
        }
        if full {
            continue;
        }
        let finished = session.state.is_terminal();
        let now = tokio::time::Instant::now();
        if shown_state != Some(session.state) || now - head_sent >= HEAD_AT_MOST_EVERY {
            let _ = sender.send(Arc::new(Update::Head {
                through: last,
                json: head(&session, usage),
            }));
            shown_state = Some(session.state);
            head_sent = now;
        }
        if finished {
            let _ = sender.send(Arc::new(Update::End));
            return;
        }
        drop(sender);
        let _ = tokio::time::timeout(HEAD_EVERY, watch.changed()).await;
    }
}

/// The header's moving parts, in the page's words.
pub(super) fn head(session: &Session, usage: Option<Usage>) -> Arc<str> {
    let finished = session.state.is_terminal();
    serde_json::json!({
        "state": session.state.as_str(),
        "state_words": state_words(session.state).1,
        "took": took(session, Timestamp::now()),
        "spent": spent_words(session, usage),
        "finished": finished,
        "live_words": if finished { WORDS.finished } else { WORDS.live },
        "pr": session.pr_url.as_deref().filter(|u| timeline::is_web_address(u)),
    })
    .to_string()
    .into()
}
