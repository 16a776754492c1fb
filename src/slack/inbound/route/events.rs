//! The Events API: Slack's URL check, mentions, and messages in sessions' threads.

use super::*;
use crate::slack::inbound::{
    MessageKind, SlackMessage, SlackRequest, Task, is_stop, parse_events, task_text,
};

pub(super) async fn receive(
    State(hook): State<Arc<SlackWebhook>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    match hook.read(&headers, &body, parse_events)? {
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
