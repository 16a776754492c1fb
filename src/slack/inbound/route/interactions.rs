//! Interactive components: the Stop button on a session's status message.

use super::*;
use crate::slack::inbound::{SlackRequest, parse_interaction};

pub(super) async fn receive(
    State(hook): State<Arc<SlackWebhook>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let action = match hook.read(&headers, &body, parse_interaction)? {
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
        crate::background::spawn(async move {
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
