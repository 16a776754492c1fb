//! A session's status message in Slack: its headline (state, repository, elapsed time,
//! cost), what it does now or how it ended, who asked, and a Stop button while it
//! runs (with Allow and Reject while the agent's permission request waits). Worded by
//! [`crate::messages`]; laid out here as Block Kit.

use super::client::Post;
use super::markup::SlackMarkup;
use crate::core::Session;
use crate::core::digest::Digest;
use crate::core::{Event, InvalidId, SessionId, Timestamp};
use crate::messages::{self, Text};
use slack_morphism::prelude::*;

/// The `action_id` of the Stop button; its `value` is the session id.
pub const STOP_ACTION: &str = "stop";
/// The `action_id`s of the buttons that answer a waiting permission request; their
/// `value` is `<session id>:<request number>` (see [`permission_value`]).
pub const ALLOW_ACTION: &str = "permission_allow";
pub const REJECT_ACTION: &str = "permission_reject";
/// Slack shows up to 4,000 characters of a message's text; replies stay below.
pub const MAX_REPLY_CHARS: usize = 3_500;

pub struct StatusView<'a> {
    pub session: &'a Session,
    /// This run's events (since the session was last queued).
    pub events: &'a [Event],
    pub now: Timestamp,
    pub session_url: &'a str,
}

fn mrkdwn(text: &Text) -> String {
    text.render(&SlackMarkup)
}

/// The status message as it stands.
pub fn status_post(view: &StatusView) -> Post {
    let session = view.session;
    let digest = Digest::read(view.events);
    let mut blocks: Vec<SlackBlock> = vec![section(&mrkdwn(&messages::headline(
        session, &digest, view.now,
    )))];
    if let Some(detail) = messages::now_doing(session, &digest) {
        blocks.push(section(&mrkdwn(&detail)));
    }
    // A context element has a section's limit too.
    let asked_by = mrkdwn(&messages::asked_by(session, view.session_url));
    blocks.push(
        SlackContextBlock::new(vec![SlackContextBlockElement::MarkDown(
            SlackBlockMarkDownText::new(messages::shorten(&asked_by, MAX_SECTION_CHARS)),
        )])
        .into(),
    );
    if !session.state.is_terminal() {
        let mut buttons = Vec::new();
        if let Some(waiting) = digest.waiting {
            let value = permission_value(session.id, waiting.number);
            // Allow is the call to act; Reject stays plain beside the red Stop.
            let allow = SlackBlockButtonElement::new(pt!(messages::ALLOW_BUTTON))
                .with_action_id(ALLOW_ACTION.into())
                .with_value(value.clone())
                .with_style(SlackBlockButtonStyle::Primary);
            let reject = SlackBlockButtonElement::new(pt!(messages::REJECT_BUTTON))
                .with_action_id(REJECT_ACTION.into())
                .with_value(value);
            buttons.extend([allow, reject]);
        }
        buttons.push(
            SlackBlockButtonElement::new(pt!(messages::STOP_BUTTON))
                .with_action_id(STOP_ACTION.into())
                .with_value(session.id.to_string())
                .with_style(SlackBlockButtonStyle::Danger),
        );
        let elements = buttons
            .into_iter()
            .map(SlackActionBlockElement::Button)
            .collect();
        blocks.push(SlackActionsBlock::new(elements).into());
    }
    Post {
        text: messages::preview(session, &digest, view.now),
        blocks,
    }
}

/// The `value` of the Allow and Reject buttons: `<session id>:<request number>`.
pub fn permission_value(session: SessionId, number: u32) -> String {
    format!("{session}:{number}")
}

/// Reads an Allow or Reject button's `value` back: the session and the request
/// number; else why it is unreadable.
pub fn parse_permission_value(value: &str) -> Result<(SessionId, u32), String> {
    let (session, number) = value
        .split_once(':')
        .ok_or_else(|| format!("{value:?} is not <session id>:<request number>"))?;
    let session = session.parse().map_err(|e: InvalidId| e.to_string())?;
    let number = number
        .parse()
        .map_err(|_| format!("{number:?} is not a request number"))?;
    Ok((session, number))
}

/// Slack refuses a section whose text is longer than this.
pub const MAX_SECTION_CHARS: usize = 3_000;

/// A section of mrkdwn, cut to Slack's limit (escaping can make text longer than the
/// words it was cut from).
fn section(text: &str) -> SlackBlock {
    SlackSectionBlock::new()
        .with_text(md!(messages::shorten(text, MAX_SECTION_CHARS)))
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{EventBody, SessionState};

    /// The replies `new` events make, as Slack shows them.
    fn moments(before: &[Event], new: &[Event], session_url: &str) -> Vec<String> {
        crate::core::digest::moments(before, new)
            .iter()
            .map(|m| mrkdwn(&messages::moment(m, session_url)))
            .collect()
    }

    /// The last reply of a finished session, as Slack shows it.
    fn ending(session: &Session) -> Option<String> {
        messages::ending(session, &Digest::default()).map(|t| mrkdwn(&t))
    }
    use crate::core::{Author, DeliveryId, RepoRef, ThreadRef, Trigger};

    fn session() -> Session {
        let trigger = Trigger {
            thread: ThreadRef::Slack {
                team: "T1".into(),
                channel: "C1".into(),
                thread_ts: "1.1".into(),
            },
            author: Author {
                id: "U1".into(),
                display_name: "U1".into(),
            },
            task: "fix it".into(),
            title: None,
            repo: Some(RepoRef::parse("acme/app").unwrap()),
            delivery: DeliveryId::parse("Ev1").unwrap(),
            agent: None,
        };
        Session::new(trigger, Timestamp::from_millis(0))
    }

    fn event(seq: u64, body: EventBody) -> Event {
        Event {
            session: session().id,
            seq,
            at: Timestamp::from_millis(0),
            body,
        }
    }

    fn blocks_text(post: &Post) -> String {
        serde_json::to_string(&post.blocks).unwrap()
    }

    #[test]
    fn every_section_fits_in_slacks_limit_however_long_the_summary() {
        let mut session = session();
        session.state = SessionState::Completed;
        // Each `&` is written `&amp;`: five characters for one.
        session.reason = Some("&".repeat(10_000));
        let post = status_post(&StatusView {
            session: &session,
            events: &[],
            now: Timestamp::from_millis(1_000),
            session_url: "u",
        });
        let sections: Vec<String> = post
            .blocks
            .iter()
            .filter_map(|block| match block {
                SlackBlock::Section(section) => section.text.as_ref().map(|t| match t {
                    SlackBlockText::MarkDown(md) => md.text.clone(),
                    SlackBlockText::Plain(plain) => plain.text.clone(),
                }),
                _ => None,
            })
            .collect();
        assert_eq!(sections.len(), 2, "{sections:#?}");
        assert!(sections[1].starts_with("&amp;&amp;"), "{}", sections[1]);
        for text in &sections {
            assert!(text.chars().count() <= MAX_SECTION_CHARS, "{}", text.len());
        }
    }

    /// Found by the `render_status` fuzz target: the context block (who asked, the
    /// session's link) was not cut, so a long author id or session link made Slack
    /// refuse the whole status message.
    #[test]
    fn the_context_block_fits_in_slacks_limit_however_long_the_author_or_link() {
        let mut session = session();
        session.trigger.author.id = "U".repeat(18_000);
        let post = status_post(&StatusView {
            session: &session,
            events: &[],
            now: Timestamp::from_millis(1_000),
            session_url: &"u".repeat(5_000),
        });
        let context: Vec<String> = post
            .blocks
            .iter()
            .filter_map(|block| match block {
                SlackBlock::Context(context) => Some(context.elements.clone()),
                _ => None,
            })
            .flatten()
            .map(|element| match element {
                SlackContextBlockElement::MarkDown(md) => md.text,
                SlackContextBlockElement::Plain(plain) => plain.text,
                _ => String::new(),
            })
            .collect();
        assert_eq!(context.len(), 1, "{context:#?}");
        assert!(
            context[0].starts_with("Asked by <@UUU"),
            "{}",
            &context[0][..40]
        );
        assert!(context[0].chars().count() <= MAX_SECTION_CHARS);
    }

    #[test]
    fn a_running_session_shows_its_command_elapsed_time_cost_and_a_stop_button() {
        let mut session = session();
        session.state = SessionState::Running;
        session.usage.cost_micros = 12_300;
        let events = [event(
            2,
            EventBody::Command {
                command: "cargo test".into(),
            },
        )];
        let post = status_post(&StatusView {
            session: &session,
            events: &events,
            now: Timestamp::from_millis(65_000),
            session_url: "http://lucid/sessions/x",
        });
        let blocks = blocks_text(&post);
        assert!(
            blocks.contains("*Working* on `acme/app` · 1m 05s · $0.0123"),
            "{blocks}"
        );
        assert!(blocks.contains("Running `cargo test`"), "{blocks}");
        assert!(
            blocks.contains(&format!("\"value\":\"{}\"", session.id)),
            "{blocks}"
        );
        assert!(blocks.contains("\"action_id\":\"stop\""), "{blocks}");
        assert_eq!(post.text, "lucid: Working · 1m 05s · $0.0123");
    }

    #[test]
    fn an_ended_session_has_no_stop_button_and_says_why() {
        let mut session = session();
        session.state = SessionState::Failed;
        session.reason = Some("the model refused the API key".into());
        let post = status_post(&StatusView {
            session: &session,
            events: &[],
            now: Timestamp::from_millis(1_000),
            session_url: "u",
        });
        let blocks = blocks_text(&post);
        assert!(!blocks.contains("\"action_id\":\"stop\""), "{blocks}");
        assert!(
            blocks.contains("Why: the model refused the API key"),
            "{blocks}"
        );
        assert_eq!(
            ending(&session).unwrap(),
            ":x: *The session failed:* the model refused the API key"
        );
    }

    fn asked(seq: u64, number: u32) -> Event {
        event(
            seq,
            EventBody::PermissionAsked {
                number,
                title: "rm -rf build".into(),
                tool: Some("delete".into()),
                within_secs: 300,
            },
        )
    }

    /// The buttons of the status message: (action_id, value, style).
    fn buttons(session: &Session, events: &[Event]) -> Vec<(String, String, Option<String>)> {
        let post = status_post(&StatusView {
            session,
            events,
            now: Timestamp::from_millis(65_000),
            session_url: "u",
        });
        let blocks = serde_json::to_value(&post.blocks).unwrap();
        let actions: Vec<&serde_json::Value> = blocks
            .as_array()
            .unwrap()
            .iter()
            .filter(|b| b["type"] == "actions")
            .collect();
        assert!(actions.len() <= 1, "{blocks}");
        actions
            .iter()
            .flat_map(|block| block["elements"].as_array().unwrap())
            .map(|b| {
                assert_eq!(b["type"], "button");
                (
                    b["action_id"].as_str().unwrap().to_owned(),
                    b["value"].as_str().unwrap().to_owned(),
                    // Slack refuses a `"style": null`: none is left out.
                    b.get("style").map(|s| s.as_str().unwrap().to_owned()),
                )
            })
            .collect()
    }

    #[test]
    fn allow_and_reject_sit_beside_stop_only_while_a_request_waits() {
        let mut session = session();
        session.state = SessionState::Running;
        let id = session.id.to_string();
        let stop = (
            STOP_ACTION.to_owned(),
            id.clone(),
            Some("danger".to_owned()),
        );
        assert_eq!(buttons(&session, &[]), vec![stop.clone()]);

        let waiting = [asked(1, 2)];
        let value = format!("{id}:2");
        assert_eq!(
            buttons(&session, &waiting),
            vec![
                (ALLOW_ACTION.into(), value.clone(), Some("primary".into())),
                (REJECT_ACTION.into(), value.clone(), None),
                stop.clone(),
            ]
        );
        assert_eq!(parse_permission_value(&value), Ok((session.id, 2)));
        let post = status_post(&StatusView {
            session: &session,
            events: &waiting,
            now: Timestamp::from_millis(65_000),
            session_url: "u",
        });
        let blocks = blocks_text(&post);
        assert!(blocks.contains("\"text\":\"Allow\""), "{blocks}");
        assert!(blocks.contains("\"text\":\"Reject\""), "{blocks}");

        // Settled (answered, timed out, cancelled): Stop alone again.
        let settled = [
            asked(1, 2),
            event(
                2,
                EventBody::PermissionSettled {
                    number: 2,
                    outcome: crate::core::PermissionOutcome::TimedOut,
                    by: None,
                },
            ),
        ];
        assert_eq!(buttons(&session, &settled), vec![stop.clone()]);
        // Another request's settlement leaves the waiting one its buttons.
        let other = [
            asked(1, 3),
            event(
                2,
                EventBody::PermissionSettled {
                    number: 2,
                    outcome: crate::core::PermissionOutcome::Allowed,
                    by: Some("ada".into()),
                },
            ),
        ];
        assert_eq!(buttons(&session, &other).len(), 3);
        // A session that ended has no buttons at all.
        session.state = SessionState::Cancelled;
        assert_eq!(buttons(&session, &waiting), vec![]);
    }

    #[test]
    fn a_permission_value_is_read_back_or_says_why_not() {
        let id = session().id;
        assert_eq!(
            parse_permission_value(&permission_value(id, u32::MAX)),
            Ok((id, u32::MAX))
        );
        let err = |value: &str| parse_permission_value(value).unwrap_err();
        assert!(err(&id.to_string()).contains("is not <session id>:<request number>"));
        assert!(err("x:1").contains("is not a session id"), "{}", err("x:1"));
        assert!(err(&format!("{id}:")).contains("is not a request number"));
        assert!(err(&format!("{id}:1:2")).contains("is not a request number"));
        // Within Slack's limit on a button's value (2,000 characters).
        assert!(permission_value(id, u32::MAX).len() <= 2_000);
    }

    #[test]
    fn a_long_diff_is_cut_with_a_pointer_to_the_whole_and_markup_is_escaped() {
        let diff: String = std::iter::once("--- a/x<y>.rs\n+++ b/x<y>.rs\n".to_owned())
            .chain((0..30).map(|i| format!("+line {i} & <b>\n")))
            .collect();
        let replies = moments(
            &[],
            &[event(
                7,
                EventBody::FileEdit {
                    path: "x<y>.rs".into(),
                    diff,
                },
            )],
            "http://lucid/sessions/s",
        );
        assert_eq!(replies.len(), 1);
        let reply = &replies[0];
        assert!(
            reply.starts_with(":pencil2: Edited `x&lt;y&gt;.rs` (+30 −0)"),
            "{reply}"
        );
        assert!(reply.contains("+line 19 &amp; &lt;b&gt;"), "{reply}");
        assert!(!reply.contains("+line 20"), "{reply}");
        assert!(
            reply.contains("…10 more lines: <http://lucid/sessions/s#event-7|full diff>"),
            "{reply}"
        );
    }

    #[test]
    fn a_failing_command_shows_its_last_lines_and_a_passing_one_nothing() {
        let output: String = (0..20).map(|i| format!("out {i}\n")).collect();
        let before = [event(
            3,
            EventBody::Command {
                command: "make test".into(),
            },
        )];
        let new = [
            event(
                4,
                EventBody::Output {
                    text: output,
                    exit_code: Some(2),
                },
            ),
            event(
                5,
                EventBody::Command {
                    command: "true".into(),
                },
            ),
            event(
                6,
                EventBody::Output {
                    text: String::new(),
                    exit_code: Some(0),
                },
            ),
        ];
        let replies = moments(&before, &new, "u");
        assert_eq!(replies.len(), 1, "{replies:#?}");
        assert!(replies[0].starts_with(":warning: `make test` failed (exit 2)"));
        assert!(replies[0].contains("out 19") && replies[0].contains("out 8"));
        assert!(!replies[0].contains("out 7\n"), "{}", replies[0]);
    }
}
