//! A session's status message in Discord: its headline (state, repository, elapsed
//! time, cost), what it does now or how it ended, who asked with a link to the
//! session, and a Stop button while it runs (with Allow and Reject while the agent's
//! permission request waits). Worded by [`crate::messages`]; fitted
//! here into Discord's 2,000 characters, the line about the work giving way first.

use super::client::{MAX_CONTENT_CHARS, Post};
use super::markup::DiscordMarkup;
use crate::chat::StatusView;
use crate::core::digest::Digest;
use crate::messages::{self, PlainWords};

pub fn status_post(view: &StatusView) -> Post {
    let session = view.session;
    let digest = Digest::read(view.events);
    let headline = messages::headline(session, &digest, view.now).render(&DiscordMarkup);
    let asked = messages::asked_by(session, view.session_url).render(&DiscordMarkup);
    let mut content = headline;
    if let Some(doing) = messages::now_doing(session, &digest) {
        let room =
            MAX_CONTENT_CHARS.saturating_sub(content.chars().count() + asked.chars().count() + 2);
        let rendered = doing.render(&DiscordMarkup);
        // Escaping can make text longer than its words: cut the words, then escape.
        let doing = if rendered.chars().count() <= room {
            rendered
        } else {
            super::markup::escape(&messages::shorten(&doing.render(&PlainWords), room / 2))
        };
        content.push('\n');
        content.push_str(&doing);
    }
    content.push('\n');
    content.push_str(&asked);
    let live = !session.state.is_terminal();
    Post {
        content: messages::shorten(&content, MAX_CONTENT_CHARS),
        stop: live.then(|| session.id.to_string()),
        waiting: digest
            .waiting
            .filter(|_| live)
            .map(|waiting| waiting.number),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{
        Author, DeliveryId, Event, EventBody, PermissionOutcome, RepoRef, Session, SessionState,
        ThreadRef, Timestamp, Trigger,
    };

    fn session(state: SessionState, reason: Option<String>) -> Session {
        let trigger = Trigger {
            thread: ThreadRef::Discord {
                channel: "1".into(),
                thread: Some("2".into()),
            },
            author: Author {
                id: "53908232506183680".into(),
                display_name: "Mason".into(),
            },
            task: "fix it".into(),
            title: None,
            repo: Some(RepoRef::parse("acme/app").unwrap()),
            delivery: DeliveryId::parse("3").unwrap(),
            agent: None,
        };
        let mut session = Session::new(trigger, Timestamp::from_millis(0));
        session.state = state;
        session.reason = reason;
        session
    }

    fn post(session: &Session) -> Post {
        status_post(&StatusView {
            session,
            events: &[],
            now: Timestamp::from_millis(65_000),
            session_url: "http://lucid/sessions/x",
        })
    }

    #[test]
    fn a_live_session_has_a_stop_button_and_a_finished_one_none() {
        let live = session(SessionState::Running, None);
        let shown = post(&live);
        assert_eq!(shown.stop, Some(live.id.to_string()));
        assert!(shown.content.contains("acme/app"), "{}", shown.content);
        assert!(shown.content.contains("<@53908232506183680>"));
        let done = session(SessionState::Completed, Some("fixed".into()));
        assert_eq!(post(&done).stop, None);
    }

    fn asked(number: u32) -> EventBody {
        EventBody::PermissionAsked {
            number,
            title: "rm -rf build".into(),
            tool: Some("delete".into()),
            within_secs: 300,
        }
    }

    fn waiting_in(session: &Session, bodies: Vec<EventBody>) -> Option<u32> {
        let events: Vec<Event> = bodies
            .into_iter()
            .zip(1..)
            .map(|(body, seq)| Event {
                session: session.id,
                seq,
                at: Timestamp::from_millis(1_000),
                body,
            })
            .collect();
        let shown = status_post(&StatusView {
            session,
            events: &events,
            now: Timestamp::from_millis(65_000),
            session_url: "http://lucid/sessions/x",
        });
        assert_eq!(shown.stop.is_some(), !session.state.is_terminal());
        shown.waiting
    }

    #[test]
    fn allow_and_reject_show_only_while_a_request_waits() {
        let live = session(SessionState::Running, None);
        assert_eq!(waiting_in(&live, vec![]), None);
        assert_eq!(waiting_in(&live, vec![asked(2)]), Some(2));
        let settled = EventBody::PermissionSettled {
            number: 2,
            outcome: PermissionOutcome::Allowed,
            by: Some("Mason".into()),
        };
        assert_eq!(waiting_in(&live, vec![asked(2), settled]), None);
        // The run ended while it waited: no buttons, whatever the log says.
        let ended = EventBody::Status {
            state: SessionState::Failed,
            message: None,
        };
        assert_eq!(waiting_in(&live, vec![asked(3), ended]), None);
        let done = session(SessionState::Cancelled, None);
        assert_eq!(waiting_in(&done, vec![asked(3)]), None);
    }

    #[test]
    fn the_status_fits_in_discords_limit_however_long_the_summary() {
        // Every `*` becomes `\*`: escaping doubles it.
        let done = session(SessionState::Completed, Some("*".repeat(10_000)));
        let shown = post(&done);
        assert!(shown.content.chars().count() <= MAX_CONTENT_CHARS);
        assert!(shown.content.ends_with("(<http://lucid/sessions/x>)"));
    }
}
