//! `/sessions/{id}/live`: the page's event stream. Each event comes as the list item
//! the page would have rendered (`item`, its SSE id the event's number, so a browser
//! that reconnects resumes after the last it got); the header's state, time and
//! spending as `head`; `end` once the session has finished and everything was sent.
//! What came before the stream opened is read from the store; what comes after, from
//! the session's shared feed (see `feed`). A share token's holder is checked again
//! with every header, so a revoked link stops streaming too.

use super::feed::{Update, head};
use super::session::usage_of;
use super::timeline;
use super::viewer::{Refusal, Viewer, share_opens, viewer_of};
use crate::core::{SessionId, Usage};
use crate::http::AppState;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures::Stream;
use serde::Deserialize;
use std::convert::Infallible;
use tokio::sync::broadcast::error::RecvError;

const BATCH: u32 = 500;

#[derive(Deserialize)]
pub(super) struct LiveQuery {
    after: Option<u64>,
    share: Option<String>,
}

pub(super) async fn stream(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Query(q): Query<LiveQuery>,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, Refusal> {
    let (viewer, session) = viewer_of(&state, &headers, &id, q.share.as_deref(), "/").await?;
    let resume_from = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .or(q.after)
        .unwrap_or(0);
    let share = match viewer {
        Viewer::Shared { token } => Some(token),
        Viewer::Operator { .. } => None,
    };
    Ok(Sse::new(follow(state, session.id, resume_from, share)).keep_alive(KeepAlive::default()))
}

fn item(seq: u64, html: &str) -> SseEvent {
    SseEvent::default()
        .id(seq.to_string())
        .event("item")
        .data(html)
}

/// Events after `after` and before `before` (at most a batch), from the store.
async fn read_from_store(
    state: &AppState,
    id: SessionId,
    after: u64,
    before: u64,
) -> Option<Vec<crate::core::Event>> {
    let wanted = before.saturating_sub(after + 1).min(u64::from(BATCH));
    if wanted == 0 {
        return Some(Vec::new());
    }
    state
        .store
        .events_after(id, after, wanted as u32)
        .await
        .ok()
}

fn follow(
    state: AppState,
    id: SessionId,
    mut last_sent: u64,
    share: Option<String>,
) -> impl Stream<Item = Result<SseEvent, Infallible>> {
    async_stream::stream! {
        let (_feed, mut updates) = state.feeds.follow(&state.store, id);
        let Ok(Some(session)) = state.store.session(id).await else {
            return;
        };
        // What came before this viewer joined, from the store.
        let mut usage: Option<Usage> = None;
        loop {
            let Some(batch) = read_from_store(&state, id, last_sent, u64::MAX).await else {
                return;
            };
            for event in &batch {
                last_sent = event.seq;
                usage = usage_of(event).or(usage);
                yield Ok(item(event.seq, &timeline::render(event)));
            }
            if batch.len() < BATCH as usize {
                break;
            }
        }
        yield Ok(SseEvent::default().event("head").data(&*head(&session, usage)));
        if session.state.is_terminal() {
            yield Ok(SseEvent::default().event("end").data("{}"));
            return;
        }
        loop {
            // Where the feed is: anything between the last event sent and it comes
            // from the store (this viewer joined between the feed's reads, or fell
            // behind the feed and lost some).
            let (next, update) = match updates.recv().await {
                Ok(update) => match &*update {
                    Update::Item { seq, .. } => (*seq, Some(update)),
                    Update::Head { through, .. } => (through.saturating_add(1), Some(update)),
                    Update::End => (u64::MAX, Some(update)),
                },
                Err(RecvError::Lagged(_)) => (u64::MAX, None),
                Err(RecvError::Closed) => return,
            };
            while last_sent + 1 < next {
                let Some(batch) = read_from_store(&state, id, last_sent, next).await else {
                    return;
                };
                for event in &batch {
                    last_sent = event.seq;
                    yield Ok(item(event.seq, &timeline::render(event)));
                }
                if batch.len() < BATCH as usize {
                    break;
                }
            }
            let Some(update) = update else {
                continue;
            };
            match &*update {
                Update::Item { seq, html } => {
                    if *seq > last_sent {
                        last_sent = *seq;
                        yield Ok(item(*seq, html));
                    }
                }
                Update::Head { json, .. } => {
                    if let Some(token) = &share
                        && !share_opens(&state, id, token).await.unwrap_or(false)
                    {
                        return;
                    }
                    yield Ok(SseEvent::default().event("head").data(&**json));
                }
                Update::End => {
                    yield Ok(SseEvent::default().event("end").data("{}"));
                    return;
                }
            }
        }
    }
}
