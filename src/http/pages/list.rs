//! `/`: the sessions, newest first, filtered by state, platform and repository, a page
//! at a time, with this month's spending on top.

use super::timeline::is_web_address;
use super::viewer::{Chrome, Refusal, render, signed_in};
use crate::core::words::{dollars, elapsed_words};
use crate::core::{Platform, RepoRef, Session, SessionState, Timestamp};
use crate::http::AppState;
use crate::messages::page::{self, PageWords, WORDS, tab_title};
use crate::messages::{one_line_within, state_words};
use crate::store::SessionFilter;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Html;
use serde::Deserialize;

const PAGE: u32 = 50;

/// One session as the list and its page's header show it.
pub(super) struct Summary {
    pub id: String,
    pub href: String,
    pub task: String,
    pub state: &'static str,
    pub state_words: &'static str,
    pub platform: String,
    pub conversation: Option<String>,
    pub repo: String,
    pub asked_by: String,
    pub cost: String,
    pub took: String,
    pub pr: Option<String>,
}

impl Summary {
    pub(super) fn of(state: &AppState, session: &Session, now: Timestamp) -> Self {
        let platform = session.trigger.platform();
        let chat = state
            .actions
            .as_ref()
            .and_then(|a| a.registry.platform(&platform).cloned());
        let heading = session
            .trigger
            .title
            .clone()
            .unwrap_or_else(|| session.trigger.task.lines().next().unwrap_or("").to_owned());
        Self {
            id: session.id.to_string(),
            href: format!("/sessions/{}", session.id),
            task: one_line_within(&heading, 120),
            state: session.state.as_str(),
            state_words: state_words(session.state).1,
            platform: chat
                .as_ref()
                .map_or_else(|| platform.to_string(), |c| c.title().to_owned()),
            conversation: chat
                .and_then(|c| c.conversation_url(&session.trigger.thread))
                .filter(|u| is_web_address(u)),
            repo: session
                .trigger
                .repo
                .as_ref()
                .map(RepoRef::to_string)
                .unwrap_or_default(),
            asked_by: session.trigger.author.display_name.clone(),
            cost: dollars(session.usage.cost_micros),
            took: took(session, now),
            pr: session.pr_url.clone().filter(|u| is_web_address(u)),
        }
    }
}

/// How long the session ran: to `now` while it is live.
pub(super) fn took(session: &Session, now: Timestamp) -> String {
    let end = if session.state.is_terminal() {
        session.updated_at
    } else {
        now
    };
    let seconds = (end.as_millis() - session.created_at.as_millis()).max(0) / 1000;
    elapsed_words(u64::try_from(seconds).unwrap_or(0))
}

pub(super) struct Choice {
    value: String,
    label: String,
    selected: bool,
}

#[derive(Template)]
#[template(path = "list.html")]
struct ListPage {
    w: &'static PageWords,
    chrome: Chrome,
    title: String,
    month_total: String,
    rows: Vec<Summary>,
    empty: &'static str,
    states: Vec<Choice>,
    platforms: Vec<Choice>,
    /// The agents a new session may run with, the default chosen (shown when there
    /// is a choice).
    agents: Vec<Choice>,
    repo: String,
    older_href: Option<String>,
    newest_href: Option<String>,
    once: String,
}

#[derive(Deserialize, Default)]
pub(super) struct ListQuery {
    state: Option<String>,
    platform: Option<String>,
    repo: Option<String>,
    before: Option<String>,
}

fn given(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

fn bad(e: impl std::fmt::Display) -> Refusal {
    Refusal::Bad(StatusCode::BAD_REQUEST, e.to_string())
}

pub(super) async fn page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> Result<Html<String>, Refusal> {
    let Some(cookie) = signed_in(&state, &headers) else {
        return Err(Refusal::SignIn {
            back_to: "/".to_owned(),
        });
    };
    let filter = SessionFilter {
        state: given(&q.state)
            .map(SessionState::parse)
            .transpose()
            .map_err(bad)?,
        platform: given(&q.platform)
            .map(Platform::parse)
            .transpose()
            .map_err(bad)?,
        repo: given(&q.repo)
            .map(|r| RepoRef::parse(r).map(|r| r.to_string()))
            .transpose()
            .map_err(bad)?,
        before: given(&q.before).map(str::parse).transpose().map_err(bad)?,
        limit: PAGE,
    };
    let sessions = state.store.list_sessions(&filter).await?;
    let now = Timestamp::now();
    let older_href = (sessions.len() == PAGE as usize)
        .then(|| sessions.last())
        .flatten()
        .map(|last| href(&q, Some(&last.id.to_string())));
    let filtered = filter.state.is_some() || filter.platform.is_some() || filter.repo.is_some();
    let page = ListPage {
        w: &WORDS,
        chrome: Chrome::signed_in(&state, &cookie),
        title: tab_title(WORDS.sessions),
        month_total: month_total(&state, now).await?,
        rows: sessions
            .iter()
            .map(|s| Summary::of(&state, s, now))
            .collect(),
        empty: if filtered {
            WORDS.no_match
        } else {
            WORDS.no_sessions
        },
        states: SessionState::ALL
            .iter()
            .map(|s| Choice {
                value: s.as_str().to_owned(),
                label: state_words(*s).1.to_owned(),
                selected: filter.state == Some(*s),
            })
            .collect(),
        platforms: platforms(&state)
            .into_iter()
            .map(|(name, title)| Choice {
                selected: filter.platform.as_ref().is_some_and(|p| p.as_str() == name),
                value: name,
                label: title,
            })
            .collect(),
        agents: agents(&state),
        repo: given(&q.repo).unwrap_or_default().to_owned(),
        older_href,
        newest_href: filter.before.is_some().then(|| href(&q, None)),
        once: uuid::Uuid::now_v7().to_string(),
    };
    Ok(render(&page))
}

/// The platforms to filter by: those this lucid serves, by name and title.
fn platforms(state: &AppState) -> Vec<(String, String)> {
    let Some(actions) = &state.actions else {
        return Vec::new();
    };
    actions
        .registry
        .platform_names()
        .into_iter()
        .filter_map(|p| {
            let title = actions.registry.platform(&p)?.title().to_owned();
            Some((p.to_string(), title))
        })
        .collect()
}

/// The agents a new session may run with, the default chosen.
fn agents(state: &AppState) -> Vec<Choice> {
    let Some(actions) = &state.actions else {
        return Vec::new();
    };
    let agents = &actions.intake.agents;
    agents
        .known()
        .map(|id| Choice {
            value: id.to_owned(),
            label: id.to_owned(),
            selected: id == agents.default,
        })
        .collect()
}

/// The list with the same filters, from `before` (or from the newest).
fn href(q: &ListQuery, before: Option<&str>) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for (name, value) in [
        ("state", given(&q.state)),
        ("platform", given(&q.platform)),
        ("repo", given(&q.repo)),
        ("before", before),
    ] {
        if let Some(value) = value {
            query.append_pair(name, value);
        }
    }
    format!("/?{}", query.finish())
}

/// What this month's sessions (UTC) spent so far.
async fn month_total(state: &AppState, now: Timestamp) -> Result<String, Refusal> {
    let today = crate::core::spending::day_of(now);
    let format = ::time::macros::format_description!("[year]-[month]-[day]");
    let first = ::time::Date::parse(&format!("{}-01", &today[..7]), &format)
        .map_err(|e| Refusal::Bad(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let since = first.midnight().assume_utc().unix_timestamp() * 1000;
    let (sessions, tokens, cost) = state
        .store
        .spent_between(
            Timestamp::from_millis(since),
            Timestamp::from_millis(now.as_millis() + 1),
        )
        .await?;
    Ok(page::month_total(cost, tokens, sessions))
}
