//! The `/lucid` slash command: a task typed where there is no message to thread on.

use super::*;
use crate::slack::inbound::{SlackRequest, is_stop, parse_command, task_text};

pub(super) async fn receive(
    State(hook): State<Arc<SlackWebhook>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let command = match hook.read(&headers, &body, parse_command)? {
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
