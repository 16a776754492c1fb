//! The `/lucid` slash command: a task typed where there is no message to thread on.

use super::*;
use crate::core::{Ask, DeliveryId, Intent, Origin, Policy, ThreadRef};
use crate::messages;
use crate::slack::inbound::{is_stop, parse_command};
use crate::slack::outbound::Post;

pub(super) async fn receive(
    State((platform, intake)): Hook,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let command = match platform.read(&headers, &body, parse_command)? {
        SlackRequest::Command(command) => command,
        SlackRequest::Ignored { reason } => return Ok(ignored(&reason)),
        _ => return Ok(ignored("not a slash command")),
    };
    if !platform.team_allowed(&command.team) {
        return Ok(ephemeral(&platform, &messages::workspace_not_set_up()));
    }
    let author = person(&command.user);
    if let Some(refusal) = platform.refusal(&command.channel, &command.user) {
        return Ok(ephemeral(&platform, &messages::refusal(&refusal, &author)));
    }
    let task = crate::slack::inbound::task_text(&command.text, platform.bot_user());
    if task.text.is_empty() {
        return Ok(ephemeral(
            &platform,
            &messages::command_usage(&command.command),
        ));
    }
    if is_stop(&task.text) {
        return Ok(ephemeral(&platform, &messages::how_to_stop()));
    }
    let delivery = DeliveryId::parse(&command.trigger_id)
        .map_err(|e| ApiError::bad_request(format!("trigger_id is unusable: {e}")))?;
    // The command is not a message: lucid posts what was asked, and that message's
    // thread is the session's.
    let dyn_platform = as_dyn(&platform);
    let asked = dyn_platform.render(&messages::asked(&author, &task.text));
    // "login" and "logout" are answered to the person alone, in no thread: nothing
    // is posted for them.
    let root = if crate::core::intent::account_asked(&task.text).is_some() {
        String::new()
    } else {
        match platform
            .api
            .post(&command.channel, None, &Post::text(asked))
            .await
        {
            Ok(ts) => ts,
            Err(e) => {
                let text = messages::cannot_post_here(&e.to_string(), "/invite @lucid");
                return Ok(ephemeral(&platform, &text));
            }
        }
    };
    let intent = Intent {
        origin: Origin {
            delivery,
            thread: ThreadRef::Slack {
                team: command.team.clone(),
                channel: command.channel.clone(),
                thread_ts: root,
            },
            author,
            message: None,
            addressed: true,
        },
        ask: Ask::Task {
            text: task.text,
            repo: None,
            title: None,
            whole: None,
            agent: None,
        },
    };
    let policy = Policy {
        default_repo: platform.settings.channel_repo(&command.channel).cloned(),
        ..Policy::open()
    };
    intake
        .take(&dyn_platform, intent, policy, None, true)
        .await?;
    // Nothing more for the person who typed it: the thread says the rest.
    Ok(StatusCode::OK.into_response())
}
