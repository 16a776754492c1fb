//! `POST /webhooks/slack/{events,interactions,commands}`: verify, parse, decide,
//! record, answer, in milliseconds. Everything said back in Slack (the acknowledgement,
//! a refusal, a question) is posted after the answer; a retried event (same
//! `event_id`, `X-Slack-Retry-Num` set) is recorded once and answered once.

use super::{PayloadError, SIGNATURE_HEADER, SlackMessage, SlackRequest, TIMESTAMP_HEADER, verify};
use crate::config::SlackSettings;
use crate::core::{Author, DeliveryId, Platform, SessionId, ThreadRef, Timestamp, Trigger};
use crate::http::ApiError;
use crate::slack::outbound::status::{STOP_ACTION, StatusView, status_post};
use crate::slack::outbound::thread::{Posting, STATUS, StatusMessages};
use crate::slack::outbound::{Post, SlackApi};
use crate::store::{Delivered, DeliveryAction, Recorded, Store};
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::sync::{Arc, OnceLock};

mod commands;
mod events;
mod interactions;

pub struct SlackWebhook {
    pub store: Store,
    pub settings: Arc<SlackSettings>,
    pub api: Arc<SlackApi>,
    pub status_messages: Arc<StatusMessages>,
    /// `{public url}/api/v1/sessions`, for links to a session.
    pub sessions_url: String,
    /// The bot's user id, from `auth.test` at start-up; events also carry it.
    pub bot_user_id: OnceLock<String>,
}

impl SlackWebhook {
    pub fn routes(self: Arc<Self>) -> axum::Router {
        use axum::routing::post;
        axum::Router::new()
            .route("/webhooks/slack/events", post(events::receive))
            .route("/webhooks/slack/interactions", post(interactions::receive))
            .route("/webhooks/slack/commands", post(commands::receive))
            .with_state(self)
    }

    /// Checks the request's signature (401), then reads its body with `parse` (400 with
    /// the reason): the same first steps for every Slack route.
    fn read(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        parse: fn(&[u8]) -> Result<SlackRequest, PayloadError>,
    ) -> Result<SlackRequest, ApiError> {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        verify(
            &self.settings.signing_secret,
            header(TIMESTAMP_HEADER),
            body,
            header(SIGNATURE_HEADER),
            Timestamp::now().as_millis() / 1_000,
        )
        .map_err(|e| ApiError::new(StatusCode::UNAUTHORIZED, e.to_string()))?;
        parse(body).map_err(|e| ApiError::bad_request(e.reason()))
    }

    fn team_allowed(&self, team: &str) -> bool {
        self.settings.teams.iter().any(|t| t == team)
    }

    /// Why `user` may not ask for work in `channel`, if they may not.
    fn refusal(&self, channel: &str, user: &str) -> Option<&'static str> {
        let listed = |list: &[String], id: &str| list.is_empty() || list.iter().any(|x| x == id);
        if !listed(&self.settings.channels, channel) {
            Some("I only take requests in the channels I was set up for.")
        } else if !listed(&self.settings.users, user) {
            Some("I only take requests from the people I was set up for.")
        } else {
            None
        }
    }

    /// The session's status message as it stands now, from the session alone (the
    /// webhook does not read the event log).
    fn status_of(&self, session: &crate::core::Session) -> Post {
        let url = format!("{}/{}", self.sessions_url, session.id);
        status_post(&StatusView {
            session,
            events: &[],
            now: Timestamp::now(),
            session_url: &url,
        })
    }

    /// Records a trigger and, the first time, posts its status message as the thread's
    /// acknowledgement (the worker waits for it, so the thread gets one).
    async fn start(self: &Arc<Self>, trigger: Trigger) -> Result<Response, ApiError> {
        let (channel, thread_ts) = slack_place(&trigger.thread);
        let (channel, thread_ts) = (channel.to_owned(), thread_ts.to_owned());
        let posting = self.status_messages.hold(&trigger.thread.key());
        match self.store.record_trigger(trigger).await? {
            Recorded::Duplicate { .. } => Ok(duplicate()),
            Recorded::Created(session) => {
                let id = session.id;
                self.acknowledge(*session, channel, thread_ts, posting);
                Ok(answer(json!({"session": id})))
            }
        }
    }

    fn acknowledge(
        self: &Arc<Self>,
        session: crate::core::Session,
        channel: String,
        thread_ts: String,
        posting: Posting,
    ) {
        let hook = self.clone();
        crate::background::spawn(async move {
            let post = hook.status_of(&session);
            let acknowledged = async {
                let ts = hook.api.post(&channel, Some(&thread_ts), &post).await?;
                hook.store
                    .set_thread_message(session.id, STATUS, &ts)
                    .await?;
                anyhow::Ok(())
            };
            if let Err(e) = acknowledged.await {
                tracing::warn!(session = %session.id, error = %e, "could not acknowledge in Slack");
            }
            drop(posting);
        });
    }

    /// Records a delivery that starts nothing and, the first time it is seen, says
    /// `text` in the thread.
    async fn answer_once(
        self: &Arc<Self>,
        delivery: &DeliveryId,
        channel: &str,
        thread_ts: &str,
        text: String,
    ) -> Result<(), ApiError> {
        let recorded = self
            .store
            .record_delivery(Platform::Slack, delivery, DeliveryAction::Nothing)
            .await?;
        if recorded != Delivered::Duplicate {
            self.say_later(channel, thread_ts, text);
        }
        Ok(())
    }

    fn say_later(self: &Arc<Self>, channel: &str, thread_ts: &str, text: String) {
        let api = self.api.clone();
        let (channel, thread_ts) = (channel.to_owned(), thread_ts.to_owned());
        crate::background::spawn(async move {
            if let Err(e) = api
                .post(&channel, Some(&thread_ts), &Post::text(text))
                .await
            {
                tracing::warn!(channel, error = %e, "could not answer in a Slack thread");
            }
        });
    }

    /// Shows a session's state in its status message now (after a stop: a queued
    /// session has no worker to show it; a running one's worker shows it again).
    fn show_status_later(self: &Arc<Self>, id: SessionId) {
        let hook = self.clone();
        crate::background::spawn(async move {
            let shown = async {
                let Some(session) = hook.store.session(id).await? else {
                    return anyhow::Ok(());
                };
                let Some(ts) = hook.store.thread_message(id, STATUS).await? else {
                    return Ok(());
                };
                let (channel, _) = slack_place(&session.trigger.thread);
                hook.api
                    .update(channel, &ts, &hook.status_of(&session))
                    .await?;
                Ok(())
            };
            if let Err(e) = shown.await {
                tracing::warn!(session = %id, error = %e, "could not show a stop in Slack");
            }
        });
    }

    fn react_later(self: &Arc<Self>, channel: &str, ts: &str, name: &'static str) {
        let api = self.api.clone();
        let (channel, ts) = (channel.to_owned(), ts.to_owned());
        crate::background::spawn(async move {
            if let Err(e) = api.react(&channel, &ts, name).await {
                tracing::warn!(channel, error = %e, "could not react in Slack");
            }
        });
    }

    fn bot_user<'a>(&'a self, message: &'a SlackMessage) -> &'a str {
        message
            .bot_user_id
            .as_deref()
            .or(self.bot_user_id.get().map(String::as_str))
            .unwrap_or_default()
    }
}

/// Starts the trigger's session, or asks its thread which repository it is for.
async fn start_or_ask(hook: &Arc<SlackWebhook>, trigger: Trigger) -> Result<Response, ApiError> {
    if trigger.repo.is_some() {
        return hook.start(trigger).await;
    }
    let (channel, thread_ts) = slack_place(&trigger.thread);
    match hook
        .store
        .record_question(&trigger.delivery, &trigger)
        .await?
    {
        Delivered::Duplicate => Ok(duplicate()),
        Delivered::New { .. } => {
            let text = format!(
                "<@{}> Which repository should I work in? Answer here with `owner/repo` \
                 or its GitHub link.",
                trigger.author.id
            );
            hook.say_later(channel, thread_ts, text);
            Ok(answer(json!({"asked": "which repository"})))
        }
    }
}

/// The channel and thread of a Slack session's conversation.
fn slack_place(thread: &ThreadRef) -> (&str, &str) {
    match thread {
        ThreadRef::Slack {
            channel, thread_ts, ..
        } => (channel, thread_ts),
        other => unreachable!("a Slack route met a {} thread", other.platform()),
    }
}

fn non_empty_or(text: &str, default: &str) -> String {
    if text.trim().is_empty() {
        default.to_owned()
    } else {
        text.to_owned()
    }
}

/// Slack wants a 200 for everything it sent that was understood.
fn answer(body: serde_json::Value) -> Response {
    (StatusCode::OK, Json(body)).into_response()
}

fn ignored(reason: &str) -> Response {
    answer(json!({"ignored": reason}))
}

fn refused(reason: &str) -> Response {
    answer(json!({"refused": reason}))
}

fn duplicate() -> Response {
    answer(json!({"duplicate": true}))
}

/// A slash command's answer, seen only by the person who typed it.
fn ephemeral(text: &str) -> Response {
    answer(json!({"response_type": "ephemeral", "text": text}))
}
