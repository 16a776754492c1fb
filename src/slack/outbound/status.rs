//! A session's status message in Slack: its headline (state, repository, elapsed time,
//! cost), what it does now or how it ended, who asked, and a Stop button while it
//! runs. Worded by [`crate::messages`]; laid out here as Block Kit.

use super::client::Post;
use super::markup::SlackMarkup;
use crate::core::Session;
use crate::core::digest::Digest;
use crate::core::{Event, Timestamp};
use crate::messages::{self, Text};
use slack_morphism::prelude::*;

/// The `action_id` of the Stop button; its `value` is the session id.
pub const STOP_ACTION: &str = "stop";
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
    blocks.push(
        SlackContextBlock::new(vec![SlackContextBlockElement::MarkDown(
            SlackBlockMarkDownText::new(mrkdwn(&messages::asked_by(session, view.session_url))),
        )])
        .into(),
    );
    if !session.state.is_terminal() {
        let stop = SlackBlockButtonElement::new(pt!(messages::STOP_BUTTON))
            .with_action_id(STOP_ACTION.into())
            .with_value(session.id.to_string())
            .with_style(SlackBlockButtonStyle::Danger);
        blocks.push(SlackActionsBlock::new(vec![SlackActionBlockElement::Button(stop)]).into());
    }
    Post {
        text: messages::preview(session, &digest, view.now),
        blocks,
    }
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
