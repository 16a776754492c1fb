//! Interactive components: the Stop button on a session's status message.

use super::*;
use crate::core::{Ask, DeliveryId, Intent, Origin, Policy};
use crate::messages;
use crate::slack::inbound::parse_interaction;
use crate::slack::outbound::status::STOP_ACTION;

pub(super) async fn receive(
    State((platform, intake)): Hook,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let action = match platform.read(&headers, &body, parse_interaction)? {
        SlackRequest::Action(action) => action,
        SlackRequest::Ignored { reason } => return Ok(ignored(&reason)),
        _ => return Ok(ignored("not a button")),
    };
    if action.action_id != STOP_ACTION {
        return Ok(ignored("not a button lucid knows"));
    }
    if !platform.team_allowed(&action.team) {
        return Ok(ignored("this workspace is not one lucid answers"));
    }
    if let Some(refusal) = platform.refusal(&action.channel, &action.user) {
        // Only the person who pressed it sees why nothing happened.
        let api = platform.api.clone();
        let text = as_dyn(&platform).render(&messages::may_not_stop());
        let (channel, user, thread_ts) = (
            action.channel.clone(),
            action.user.clone(),
            action.thread_ts.clone(),
        );
        crate::background::spawn(async move {
            if let Err(e) = api
                .ephemeral(&channel, &user, thread_ts.as_deref(), &text)
                .await
            {
                tracing::warn!(channel, error = %e, "could not answer a button in Slack");
            }
        });
        return Ok(taken(&Taken::Refused(refusal)));
    }
    let delivery = DeliveryId::parse(&action.trigger_id)
        .map_err(|e| ApiError::bad_request(format!("trigger_id is unusable: {e}")))?;
    let intent = Intent {
        origin: Origin {
            delivery,
            thread: action.thread(),
            author: person(&action.user),
            // The button is on lucid's own message: nothing to react to.
            message: None,
            addressed: true,
        },
        ask: Ask::Stop,
    };
    let outcome = intake
        .take(&as_dyn(&platform), intent, Policy::open(), None, false)
        .await?;
    Ok(taken(&outcome))
}
