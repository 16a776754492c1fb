//! `POST /webhooks/slack/{events,interactions,commands}`: verify, parse, decide,
//! record, answer, in milliseconds. Everything said back in Slack (the acknowledgement,
//! a refusal, a question) is posted after the answer; a retried event (same
//! `event_id`, `X-Slack-Retry-Num` set) is recorded once and answered once.

use super::{
    MessageKind, SIGNATURE_HEADER, SlackMessage, SlackRequest, TIMESTAMP_HEADER, Task, is_stop,
    parse_command, parse_events, parse_interaction, task_text, verify,
};
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
            .route("/webhooks/slack/events", post(events))
            .route("/webhooks/slack/interactions", post(interactions))
            .route("/webhooks/slack/commands", post(commands))
            .with_state(self)
    }

    fn verify(&self, headers: &HeaderMap, body: &[u8]) -> Result<(), ApiError> {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        verify(
            &self.settings.signing_secret,
            header(TIMESTAMP_HEADER),
            body,
            header(SIGNATURE_HEADER),
            Timestamp::now().as_millis() / 1_000,
        )
        .map_err(|e| ApiError::new(StatusCode::UNAUTHORIZED, e.to_string()))
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

    fn session_url(&self, id: SessionId) -> String {
        format!("{}/{id}", self.sessions_url)
    }

    /// Records a trigger and, the first time, posts its status message as the thread's
    /// acknowledgement (the worker waits for it, so the thread gets one).
    async fn start(self: &Arc<Self>, trigger: Trigger) -> Result<Response, ApiError> {
        let ThreadRef::Slack {
            channel, thread_ts, ..
        } = trigger.thread.clone()
        else {
            unreachable!("Slack triggers answer in Slack threads")
        };
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
        tokio::spawn(async move {
            let url = hook.session_url(session.id);
            let post = status_post(&StatusView {
                session: &session,
                events: &[],
                now: Timestamp::now(),
                session_url: &url,
            });
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
        tokio::spawn(async move {
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
        tokio::spawn(async move {
            let shown = async {
                let Some(session) = hook.store.session(id).await? else {
                    return anyhow::Ok(());
                };
                let Some(ts) = hook.store.thread_message(id, STATUS).await? else {
                    return Ok(());
                };
                let ThreadRef::Slack { channel, .. } = &session.trigger.thread else {
                    return Ok(());
                };
                let url = hook.session_url(id);
                let post = status_post(&StatusView {
                    session: &session,
                    events: &[],
                    now: Timestamp::now(),
                    session_url: &url,
                });
                hook.api.update(channel, &ts, &post).await?;
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
        tokio::spawn(async move {
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

async fn events(
    State(hook): State<Arc<SlackWebhook>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    hook.verify(&headers, &body)?;
    match parse_events(&body).map_err(|e| ApiError::bad_request(e.reason()))? {
        SlackRequest::UrlVerification { challenge } => Ok(answer(json!({"challenge": challenge}))),
        SlackRequest::Message(message) => on_message(&hook, message).await,
        SlackRequest::Ignored { reason } => Ok(ignored(&reason)),
        SlackRequest::Action(_) | SlackRequest::Command(_) => {
            Ok(ignored("not an Events API request"))
        }
    }
}

async fn on_message(hook: &Arc<SlackWebhook>, message: SlackMessage) -> Result<Response, ApiError> {
    if !hook.team_allowed(&message.team) {
        tracing::warn!(team = %message.team, "an event from a Slack workspace not in LUCID_SLACK_TEAMS");
        return Ok(ignored("this workspace is not one lucid answers"));
    }
    if message.is_from_bot() {
        return Ok(ignored("messages from bots never trigger"));
    }
    if message.kind == MessageKind::Message && message.is_mention {
        return Ok(ignored(
            "the app_mention event of this message is the one acted on",
        ));
    }
    let Some(user) = message.user.clone() else {
        return Ok(ignored("a message without an author"));
    };
    let task = task_text(&message.text, hook.bot_user(&message));
    // A message outside any thread starts one: no session or question can be there
    // yet, so the two reads are left out of the busiest path.
    if message.thread_ts.is_some() {
        let thread = message.thread();
        if let Some(session) = hook.store.session_for_thread(&thread).await? {
            return follow_up(hook, &message, &user, &task, session).await;
        }
        if let Some(waiting) = hook.store.open_question(&thread).await? {
            return answer_question(hook, &message, &user, task, waiting).await;
        }
    }
    if message.kind != MessageKind::AppMention {
        return Ok(ignored("not a mention, and not in a session's thread"));
    }
    new_request(hook, &message, &user, task).await
}

async fn follow_up(
    hook: &Arc<SlackWebhook>,
    message: &SlackMessage,
    user: &str,
    task: &Task,
    session: SessionId,
) -> Result<Response, ApiError> {
    let root = message.thread_root();
    if let Some(why) = hook.refusal(&message.channel, user) {
        if message.is_mention {
            let text = format!("<@{user}> {why}");
            hook.answer_once(&message.event_id, &message.channel, root, text)
                .await?;
        }
        return Ok(refused(why));
    }
    let (action, said) = if message.is_mention && is_stop(&task.text) {
        let reason = format!("stopped by <@{user}>");
        (DeliveryAction::Stop { session, reason }, "stop")
    } else if message.is_mention {
        let text = non_empty_or(&task.text, "carry on");
        let author = user.to_owned();
        (
            DeliveryAction::Say {
                session,
                author,
                text,
            },
            "follow-up",
        )
    } else {
        let text = non_empty_or(&task.text, "…");
        let author = user.to_owned();
        (
            DeliveryAction::Note {
                session,
                author,
                text,
            },
            "note",
        )
    };
    match hook
        .store
        .record_delivery(Platform::Slack, &message.event_id, action)
        .await?
    {
        Delivered::Duplicate => Ok(duplicate()),
        Delivered::New { resumed } => {
            if said == "stop" {
                hook.show_status_later(session);
            }
            if message.is_mention {
                hook.react_later(&message.channel, &message.ts, "eyes");
            }
            Ok(answer(
                json!({"session": session, "as": said, "resumed": resumed}),
            ))
        }
    }
}

async fn new_request(
    hook: &Arc<SlackWebhook>,
    message: &SlackMessage,
    user: &str,
    task: Task,
) -> Result<Response, ApiError> {
    let root = message.thread_root();
    if let Some(why) = hook.refusal(&message.channel, user) {
        let text = format!("<@{user}> {why}");
        hook.answer_once(&message.event_id, &message.channel, root, text)
            .await?;
        return Ok(refused(why));
    }
    if is_stop(&task.text) {
        return Ok(ignored("there is no session here to stop"));
    }
    if task.text.is_empty() {
        let text = format!(
            "<@{user}> What should I do? Mention me with a task, and the repository \
             (`owner/repo`) unless this channel has one."
        );
        hook.answer_once(&message.event_id, &message.channel, root, text)
            .await?;
        return Ok(ignored("a mention without a task"));
    }
    let trigger = Trigger {
        thread: message.thread(),
        author: Author {
            id: user.to_owned(),
            display_name: user.to_owned(),
        },
        repo: task
            .repo
            .clone()
            .or_else(|| hook.settings.channel_repo(&message.channel).cloned()),
        task: task.text,
        delivery: message.event_id.clone(),
    };
    start_or_ask(hook, trigger).await
}

/// Starts the trigger's session, or asks its thread which repository it is for.
async fn start_or_ask(hook: &Arc<SlackWebhook>, trigger: Trigger) -> Result<Response, ApiError> {
    if trigger.repo.is_some() {
        return hook.start(trigger).await;
    }
    let ThreadRef::Slack {
        channel, thread_ts, ..
    } = &trigger.thread
    else {
        unreachable!("Slack triggers answer in Slack threads")
    };
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

/// A message in a thread where lucid asked which repository: one that names it starts
/// the session that was asked for.
async fn answer_question(
    hook: &Arc<SlackWebhook>,
    message: &SlackMessage,
    user: &str,
    task: Task,
    waiting: Trigger,
) -> Result<Response, ApiError> {
    if hook.refusal(&message.channel, user).is_some() {
        return Ok(ignored("not someone lucid takes requests from"));
    }
    let Some(repo) = task.repo else {
        return Ok(ignored("the answer names no repository"));
    };
    let thread = waiting.thread.clone();
    let trigger = Trigger {
        repo: Some(repo),
        delivery: message.event_id.clone(),
        ..waiting
    };
    let started = hook.start(trigger).await?;
    hook.store.close_question(&thread).await?;
    Ok(started)
}

async fn commands(
    State(hook): State<Arc<SlackWebhook>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    hook.verify(&headers, &body)?;
    let command = match parse_command(&body).map_err(|e| ApiError::bad_request(e.reason()))? {
        SlackRequest::Command(command) => command,
        SlackRequest::Ignored { reason } => return Ok(ignored(&reason)),
        _ => return Ok(ignored("not a slash command")),
    };
    if !hook.team_allowed(&command.team) {
        return Ok(ephemeral(
            "This Slack workspace is not set up to use lucid.",
        ));
    }
    if let Some(why) = hook.refusal(&command.channel, &command.user) {
        return Ok(ephemeral(why));
    }
    let bot = hook
        .bot_user_id
        .get()
        .map(String::as_str)
        .unwrap_or_default();
    let task = task_text(&command.text, bot);
    if task.text.is_empty() {
        return Ok(ephemeral(&format!(
            "Tell me what to do: `{} fix the flaky login test in acme/web`.",
            command.command
        )));
    }
    if is_stop(&task.text) {
        return Ok(ephemeral(
            "To stop a session, press Stop on its status message or say `stop` to me in its thread.",
        ));
    }
    let delivery = DeliveryId::parse(&command.trigger_id)
        .map_err(|e| ApiError::bad_request(format!("trigger_id is unusable: {e}")))?;
    // The command is not a message: lucid posts what was asked, and that message's
    // thread is the session's.
    let asked = format!("<@{}> asked: {}", command.user, task.text);
    let root = match hook
        .api
        .post(&command.channel, None, &Post::text(asked))
        .await
    {
        Ok(ts) => ts,
        Err(e) => {
            return Ok(ephemeral(&format!(
                "I could not post in this channel ({e}). Invite me with `/invite @lucid` and try again."
            )));
        }
    };
    let trigger = Trigger {
        thread: ThreadRef::Slack {
            team: command.team.clone(),
            channel: command.channel.clone(),
            thread_ts: root,
        },
        author: Author {
            id: command.user.clone(),
            display_name: command.user.clone(),
        },
        repo: task
            .repo
            .clone()
            .or_else(|| hook.settings.channel_repo(&command.channel).cloned()),
        task: task.text,
        delivery,
    };
    start_or_ask(&hook, trigger).await?;
    // Nothing more for the person who typed it: the thread says the rest.
    Ok(StatusCode::OK.into_response())
}

async fn interactions(
    State(hook): State<Arc<SlackWebhook>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    hook.verify(&headers, &body)?;
    let action = match parse_interaction(&body).map_err(|e| ApiError::bad_request(e.reason()))? {
        SlackRequest::Action(action) => action,
        SlackRequest::Ignored { reason } => return Ok(ignored(&reason)),
        _ => return Ok(ignored("not a button")),
    };
    if action.action_id != STOP_ACTION {
        return Ok(ignored("not a button lucid knows"));
    }
    if !hook.team_allowed(&action.team) {
        return Ok(ignored("this workspace is not one lucid answers"));
    }
    let thread_ts = action.thread_ts.clone();
    if let Some(why) = hook.refusal(&action.channel, &action.user) {
        let api = hook.api.clone();
        let (channel, user) = (action.channel.clone(), action.user.clone());
        let text = "Only the people I was set up for can stop a session.".to_owned();
        tokio::spawn(async move {
            if let Err(e) = api
                .ephemeral(&channel, &user, thread_ts.as_deref(), &text)
                .await
            {
                tracing::warn!(channel, error = %e, "could not answer a button in Slack");
            }
        });
        return Ok(refused(why));
    }
    let session = match action.value.parse::<SessionId>() {
        Ok(session) => Some(session),
        Err(_) => hook.store.session_for_thread(&action.thread()).await?,
    };
    let Some(session) = session else {
        return Ok(ignored("no session belongs to this button"));
    };
    let delivery = DeliveryId::parse(&action.trigger_id)
        .map_err(|e| ApiError::bad_request(format!("trigger_id is unusable: {e}")))?;
    let reason = format!("stopped by <@{}>", action.user);
    match hook
        .store
        .record_delivery(
            Platform::Slack,
            &delivery,
            DeliveryAction::Stop { session, reason },
        )
        .await?
    {
        Delivered::Duplicate => Ok(duplicate()),
        Delivered::New { .. } => {
            hook.show_status_later(session);
            Ok(answer(json!({"session": session, "as": "stop"})))
        }
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
