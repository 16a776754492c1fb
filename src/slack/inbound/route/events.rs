//! The Events API: Slack's URL check, mentions, and messages in sessions' threads.

use super::*;
use crate::core::{Ask, Intent, Origin, Policy};
use crate::slack::inbound::{MessageKind, SlackMessage, is_stop, parse_events, task_text};

pub(super) async fn receive(
    State((platform, intake)): Hook,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    match platform.read(&headers, &body, parse_events)? {
        SlackRequest::UrlVerification { challenge } => Ok(answer(json!({"challenge": challenge}))),
        SlackRequest::Message(message) => on_message(&platform, &intake, message).await,
        SlackRequest::Ignored { reason } => Ok(ignored(&reason)),
        SlackRequest::Action(_) | SlackRequest::Command(_) => {
            Ok(ignored("not an Events API request"))
        }
    }
}

async fn on_message(
    platform: &Arc<SlackPlatform>,
    intake: &Intake,
    message: SlackMessage,
) -> Result<Response, ApiError> {
    if !platform.team_allowed(&message.team) {
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
    let bot = message
        .bot_user_id
        .as_deref()
        .unwrap_or_else(|| platform.bot_user());
    let task = task_text(&message.text, bot);
    let ask = if message.is_mention && is_stop(&task.text) {
        Ask::Stop
    } else {
        Ask::Task {
            text: task.text,
            repo: None,
            title: None,
            whole: None,
            agent: None,
        }
    };
    let intent = Intent {
        origin: Origin {
            delivery: message.event_id.clone(),
            thread: message.thread(),
            author: person(&user),
            // Only a mention is acknowledged, with a reaction on it.
            message: message.is_mention.then(|| message.ts.clone()),
            addressed: message.is_mention,
        },
        ask,
    };
    let policy = Policy {
        refusal: platform.refusal(&message.channel, &user),
        may_start: true,
        default_repo: platform.settings.channel_repo(&message.channel).cloned(),
    };
    // A message outside any thread starts one: no session or question can be there
    // yet, so the reads are left out of the busiest path.
    let fresh = message.thread_ts.is_none();
    let outcome = intake
        .take(&as_dyn(platform), intent, policy, None, fresh)
        .await?;
    Ok(taken(&outcome))
}
