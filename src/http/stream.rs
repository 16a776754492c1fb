//! A session's events live, as Server-Sent Events. Each event's SSE id is its number
//! in the log, so a client that reconnects with `Last-Event-ID` resumes right after
//! the last one it saw. The stream ends once the session has finished and every event
//! has been sent.

use super::api::{ApiQuery, existing_session};
use super::{ApiError, AppState};
use crate::core::SessionId;
use crate::store::Store;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures::Stream;
use serde::Deserialize;
use std::convert::Infallible;

const BATCH: u32 = 500;

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct StreamQuery {
    /// Resume after this event (or send `Last-Event-ID`).
    after: Option<u64>,
}

/// The event log live, as Server-Sent Events (`id`: the event's number, `event`: its
/// kind); ends when the session has finished and every event was sent.
#[utoipa::path(get, path = "/sessions/{id}/events/stream", params(("id" = String, Path, description = "The session's id"), StreamQuery),
    responses((status = 200, description = "An event stream", content_type = "text/event-stream"),
        (status = 404, description = "No such session")))]
pub(super) async fn stream_events(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<StreamQuery>,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    let session = existing_session(&state, &id).await?;
    let resume_from = match headers.get("last-event-id") {
        Some(value) => value
            .to_str()
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .ok_or_else(|| ApiError::bad_request("Last-Event-ID must be an event number"))?,
        None => q.after.unwrap_or(0),
    };
    let events = follow(state.store.clone(), session.id, resume_from);
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}

fn follow(
    store: Store,
    id: SessionId,
    mut last_sent: u64,
) -> impl Stream<Item = Result<SseEvent, Infallible>> {
    // Subscribe before the first read, so nothing appended in between is missed.
    let mut watch = store.watch(id);
    async_stream::stream! {
        loop {
            // Read the state before the events: if it was already final, the events
            // read next include the last one.
            let finished = match store.session(id).await {
                Ok(Some(session)) => session.state.is_terminal(),
                Ok(None) => true,
                Err(e) => {
                    yield Ok(error_event(&e.to_string()));
                    break;
                }
            };
            let batch = match store.events_after(id, last_sent, BATCH).await {
                Ok(batch) => batch,
                Err(e) => {
                    yield Ok(error_event(&e.to_string()));
                    break;
                }
            };
            let full = batch.len() == BATCH as usize;
            for event in batch {
                last_sent = event.seq;
                let sse = SseEvent::default()
                    .id(event.seq.to_string())
                    .event(event.body.kind());
                match sse.json_data(&event) {
                    Ok(sse) => yield Ok(sse),
                    Err(e) => yield Ok(error_event(&e.to_string())),
                }
            }
            if full {
                continue;
            }
            if finished {
                break;
            }
            watch.changed().await;
        }
    }
}

fn error_event(message: &str) -> SseEvent {
    SseEvent::default()
        .event("error")
        .data(serde_json::json!({ "error": message }).to_string())
}
