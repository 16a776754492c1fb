//! Interactive components: the buttons on a session's status message, Stop and (while
//! the agent's permission request waits) Allow and Reject.

use super::*;
use crate::core::{Ask, DeliveryId, Intent, Origin, Policy, SessionId};
use crate::messages;
use crate::slack::inbound::parse_interaction;
use crate::slack::inbound::payload::SlackAction;
use crate::slack::outbound::status::{
    ALLOW_ACTION, REJECT_ACTION, STOP_ACTION, parse_permission_value,
};

/// What a click on one of lucid's buttons asks.
#[derive(Debug, PartialEq, Eq)]
enum Clicked {
    Stop,
    /// Allow or Reject, on the status message of `session`.
    Permission {
        session: SessionId,
        number: u32,
        allow: bool,
    },
}

impl Clicked {
    /// The button's ask; None for a button lucid does not know; an unreadable value is
    /// the reason.
    fn read(action: &SlackAction) -> Result<Option<Clicked>, String> {
        let allow = match action.action_id.as_str() {
            STOP_ACTION => return Ok(Some(Clicked::Stop)),
            ALLOW_ACTION => true,
            REJECT_ACTION => false,
            _ => return Ok(None),
        };
        let (session, number) = parse_permission_value(&action.value)
            .map_err(|e| format!("the {} button's value is unusable: {e}", action.action_id))?;
        Ok(Some(Clicked::Permission {
            session,
            number,
            allow,
        }))
    }

    fn ask(&self) -> Ask {
        match *self {
            Clicked::Stop => Ask::Stop,
            Clicked::Permission { number, allow, .. } => Ask::Permission {
                number: Some(number),
                allow,
            },
        }
    }

    /// Said only to the person who pressed it, when they may not.
    fn not_yours(&self) -> Text {
        match self {
            Clicked::Stop => messages::may_not_stop(),
            Clicked::Permission { .. } => messages::may_not_answer(),
        }
    }
}

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
    let Some(clicked) = Clicked::read(&action).map_err(ApiError::bad_request)? else {
        return Ok(ignored("not a button lucid knows"));
    };
    if !platform.team_allowed(&action.team) {
        return Ok(ignored("this workspace is not one lucid answers"));
    }
    if let Some(refusal) = platform.refusal(&action.channel, &action.user) {
        tell_presser(&platform, &action, &clicked.not_yours());
        return Ok(taken(&Taken::Refused(refusal)));
    }
    let delivery = DeliveryId::parse(&action.trigger_id)
        .map_err(|e| ApiError::bad_request(format!("trigger_id is unusable: {e}")))?;
    let thread = action.thread();
    if let Clicked::Permission { session, .. } = clicked {
        // A button left on an older session's message must not answer the thread's
        // newer one.
        let state = intake
            .store
            .thread_state(&thread)
            .await
            .map_err(ApiError::from)?;
        if state.session.map(|(id, _)| id) != Some(session) {
            return Ok(ignored(
                "the button is on the status message of a session that is not the thread's",
            ));
        }
    }
    let intent = Intent {
        origin: Origin {
            delivery,
            thread,
            author: person(&action.user),
            // The button is on lucid's own message: nothing to react to.
            message: None,
            addressed: true,
        },
        ask: clicked.ask(),
    };
    let outcome = intake
        .take(&as_dyn(&platform), intent, Policy::open(), None, false)
        .await?;
    Ok(taken(&outcome))
}

/// Posts `text` where only the person who pressed the button sees it (after the
/// answer).
fn tell_presser(platform: &Arc<SlackPlatform>, action: &SlackAction, text: &Text) {
    let api = platform.api.clone();
    let text = as_dyn(platform).render(text);
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn click(action_id: &str, value: &str) -> SlackAction {
        SlackAction {
            team: "T1".into(),
            channel: "C1".into(),
            user: "U1".into(),
            action_id: action_id.into(),
            value: value.into(),
            message_ts: "1.5".into(),
            thread_ts: Some("1.1".into()),
            trigger_id: "1.2.abc".into(),
            response_url: None,
        }
    }

    const SESSION: &str = "0190a3c4-5d6e-7f80-9a1b-2c3d4e5f6a7b";

    #[test]
    fn allow_and_reject_answer_the_request_their_value_names() {
        let session: SessionId = SESSION.parse().unwrap();
        let allow = Clicked::read(&click(ALLOW_ACTION, &format!("{SESSION}:3")))
            .unwrap()
            .unwrap();
        assert_eq!(
            allow,
            Clicked::Permission {
                session,
                number: 3,
                allow: true
            }
        );
        assert_eq!(
            allow.ask(),
            Ask::Permission {
                number: Some(3),
                allow: true
            }
        );
        let reject = Clicked::read(&click(REJECT_ACTION, &format!("{SESSION}:12")))
            .unwrap()
            .unwrap();
        assert_eq!(
            reject.ask(),
            Ask::Permission {
                number: Some(12),
                allow: false
            }
        );
        assert_eq!(
            Clicked::read(&click(STOP_ACTION, SESSION)).unwrap(),
            Some(Clicked::Stop)
        );
        assert_eq!(Clicked::read(&click("other", "x")).unwrap(), None);
    }

    #[test]
    fn a_click_on_allow_from_slack_becomes_an_answer_to_its_request() {
        let body = include_str!("../../../../tests/data/slack/block_actions.permission_allow.txt");
        let SlackRequest::Action(action) = parse_interaction(body.as_bytes()).unwrap() else {
            panic!("not an action");
        };
        let clicked = Clicked::read(&action).unwrap().unwrap();
        assert_eq!(
            clicked,
            Clicked::Permission {
                session: SESSION.parse().unwrap(),
                number: 1,
                allow: true
            }
        );
        assert_eq!(
            clicked.ask(),
            Ask::Permission {
                number: Some(1),
                allow: true
            }
        );
        // The thread is the message's, as for Stop.
        assert_eq!(
            action.thread().key(),
            "T061EG9R6/C0LAN2Q65/1515449522.000016"
        );
    }

    #[test]
    fn an_unreadable_value_says_why() {
        let reason = |value: &str| Clicked::read(&click(ALLOW_ACTION, value)).unwrap_err();
        assert!(reason(SESSION).contains("is not <session id>:<request number>"));
        assert!(
            reason("nope:1").contains("is not a session id"),
            "{}",
            reason("nope:1")
        );
        assert!(reason(&format!("{SESSION}:x")).contains("\"x\" is not a request number"));
        assert!(reason(&format!("{SESSION}:-1")).contains("is not a request number"));
        assert!(reason("").starts_with("the permission_allow button's value is unusable"));
    }
}
