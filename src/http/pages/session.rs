//! `/sessions/{id}`: a session's timeline, whole as of now, then live (assets/live.js
//! follows `/sessions/{id}/live` from the last event shown). An operator also gets the
//! forms to message, stop, resume and share it, and, while its agent waits for leave,
//! the box that allows or rejects; a share token's holder reads only.

use super::list::Summary;
use super::timeline;
use super::viewer::{Chrome, Refusal, Viewer, render as html, viewer_of};
use crate::core::digest::Digest;
use crate::core::{Event, EventBody, Session, Timestamp, Usage};
use crate::http::AppState;
use crate::messages::page::{self, PageWords, WORDS, tab_title};
use crate::messages::spent;
use crate::store::ShareRecord;
use crate::web::access::share_hash;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Html;
use serde::Deserialize;

/// Events read from the store at a time.
const BATCH: u32 = 2_000;

#[derive(Template)]
#[template(path = "session.html")]
struct SessionPage {
    w: &'static PageWords,
    chrome: Chrome,
    title: String,
    head: Summary,
    asked: String,
    spent: String,
    finished: bool,
    live_words: &'static str,
    last_seq: u64,
    stream_href: String,
    events_html: String,
    operator: bool,
    shares_on: bool,
    share_link: Option<String>,
    new_share: Option<String>,
    once: String,
    /// Whether the agent waits for leave now: the box shows `asking`.
    waiting: bool,
    asking: Asking,
}

/// The permission request that waits, as its box shows it. The box is on an
/// operator's page (hidden while nothing waits) so that assets/live.js can show it
/// when a `permission_asked` item arrives, and hide it at its `permission_settled`.
#[derive(Default)]
struct Asking {
    number: String,
    title: String,
    note: String,
}

#[derive(Deserialize)]
pub(super) struct PageQuery {
    share: Option<String>,
}

pub(super) async fn page(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Query(q): Query<PageQuery>,
) -> Result<Html<String>, Refusal> {
    let back_to = format!("/sessions/{id}");
    let (viewer, session) = viewer_of(&state, &headers, &id, q.share.as_deref(), &back_to).await?;
    render(&state, &viewer, session, None).await
}

/// The page for `viewer`; `new_share` is a share link just made, shown this once.
pub(super) async fn render(
    state: &AppState,
    viewer: &Viewer,
    session: Session,
    new_share: Option<String>,
) -> Result<Html<String>, Refusal> {
    let Timeline {
        html: events_html,
        last_seq,
        usage: last_usage,
        waiting,
    } = timeline_of(state, &session).await?;
    let now = Timestamp::now();
    let head = Summary::of(state, &session, now);
    let finished = session.state.is_terminal();
    let mut stream_href = format!("/sessions/{}/live?after={last_seq}", session.id);
    if let Viewer::Shared { token } = viewer {
        stream_href.push_str(&format!("&share={token}"));
    }
    let operator = viewer.is_operator();
    let page = SessionPage {
        w: &WORDS,
        chrome: Chrome::for_viewer(state, viewer),
        title: tab_title(&head.task),
        asked: page::asked_on(&head.asked_by, &head.platform),
        spent: spent_words(&session, last_usage),
        head,
        finished,
        live_words: if finished { WORDS.finished } else { WORDS.live },
        last_seq,
        stream_href,
        events_html,
        operator,
        shares_on: state.links.access().shares_links(),
        share_link: if operator {
            posted_share_link(state, &session).await?
        } else {
            None
        },
        new_share,
        once: uuid::Uuid::now_v7().to_string(),
        waiting: waiting.is_some() && !finished,
        asking: waiting.unwrap_or_default(),
    };
    Ok(html(&page))
}

/// What the session spent, in the threads' words.
pub(super) fn spent_words(session: &Session, last_usage: Option<Usage>) -> String {
    let usage = if session.usage == Usage::default() {
        last_usage.unwrap_or_default()
    } else {
        session.usage
    };
    spent(usage).unwrap_or_else(|| WORDS.nothing_spent.to_owned())
}

/// The whole log, as the page shows it.
struct Timeline {
    /// Every event as its list item.
    html: String,
    /// The last event's number.
    last_seq: u64,
    /// The last usage seen.
    usage: Option<Usage>,
    /// The permission request that waits, if one does.
    waiting: Option<Asking>,
}

async fn timeline_of(state: &AppState, session: &Session) -> Result<Timeline, Refusal> {
    let mut html = String::new();
    let mut last = 0;
    let mut usage = None;
    // Only what decides whether a request waits, read as the threads read it.
    let mut asking: Vec<Event> = Vec::new();
    loop {
        let batch = state.store.events_after(session.id, last, BATCH).await?;
        for event in &batch {
            html.push_str(&timeline::render(event));
            usage = usage_of(event).or(usage);
            last = event.seq;
            if decides_waiting(&event.body) {
                asking.push(event.clone());
            }
        }
        if batch.len() < BATCH as usize {
            let waiting = Digest::read(&asking).waiting.map(|w| Asking {
                number: w.number.to_string(),
                title: page::permission_title(w.title),
                note: page::permission_note(w.number, w.within_secs),
            });
            return Ok(Timeline {
                html,
                last_seq: last,
                usage,
                waiting,
            });
        }
    }
}

/// Whether an event changes which permission request waits (see `Digest::waiting`).
fn decides_waiting(body: &EventBody) -> bool {
    match body {
        EventBody::PermissionAsked { .. } | EventBody::PermissionSettled { .. } => true,
        EventBody::Status { state, .. } => state.is_terminal(),
        _ => false,
    }
}

pub(super) fn usage_of(event: &Event) -> Option<Usage> {
    match event.body {
        EventBody::Usage {
            tokens_in,
            tokens_out,
            cost_micros,
        } => Some(Usage {
            tokens_in,
            tokens_out,
            cost_micros,
        }),
        _ => None,
    }
}

/// The link lucid posts in threads, unless it was revoked.
async fn posted_share_link(state: &AppState, session: &Session) -> Result<Option<String>, Refusal> {
    let Some(token) = state.links.access().posted_share(session.id) else {
        return Ok(None);
    };
    if state.store.share(&share_hash(&token)).await? == ShareRecord::Revoked {
        return Ok(None);
    }
    Ok(Some(state.links.shared(session.id, &token)))
}
