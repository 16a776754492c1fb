//! What a session says in its Slack thread, as pure functions of the session and its
//! log: the one status message (state, the step running now, elapsed time, cost, a
//! Stop button) and the thread replies for key moments (a file edit as a short diff,
//! a failing command with its last lines, the PR, how the session ended).

use super::client::Post;
use crate::core::words::{diff_counts, dollars, elapsed_words};
use crate::core::{Event, EventBody, Session, SessionState, Timestamp};
use slack_morphism::prelude::*;

/// The `action_id` of the Stop button; its `value` is the session id.
pub const STOP_ACTION: &str = "stop";
/// Diff lines shown in a thread reply before it points to the full diff.
pub const DIFF_LINES: usize = 20;
/// Last lines of a failing command's output shown in the thread.
pub const OUTPUT_LINES: usize = 12;
/// Slack shows up to 4,000 characters of a message's text; replies stay below.
pub const MAX_REPLY_CHARS: usize = 3_500;

pub struct StatusView<'a> {
    pub session: &'a Session,
    /// This run's events (since the session was last queued).
    pub events: &'a [Event],
    pub now: Timestamp,
    pub session_url: &'a str,
}

/// The status message as it stands.
pub fn status_post(view: &StatusView) -> Post {
    let session = view.session;
    let facts = Facts::read(view.events);
    let elapsed = elapsed_words(
        u64::try_from((view.now.as_millis() - session.created_at.as_millis()) / 1_000).unwrap_or(0),
    );
    let usage = session.usage;
    let cost = (usage.cost_micros > 0).then(|| dollars(usage.cost_micros));
    let (icon, word) = match session.state {
        SessionState::Queued => (":hourglass_flowing_sand:", "Queued"),
        SessionState::Provisioning => (":package:", "Starting a sandbox"),
        SessionState::Running => (":hammer_and_wrench:", "Working"),
        SessionState::Completed => (":white_check_mark:", "Done"),
        SessionState::Failed => (":x:", "Failed"),
        SessionState::Cancelled => (":black_square_for_stop:", "Stopped"),
    };
    let mut headline = format!("{icon} *{word}*");
    if let Some(repo) = &session.trigger.repo {
        headline.push_str(&format!(" on `{repo}`"));
    }
    headline.push_str(&format!(" · {elapsed}"));
    if let Some(cost) = &cost {
        headline.push_str(&format!(" · {cost}"));
    }
    if let Some(url) = &session.pr_url {
        headline.push_str(&format!(" · <{}|pull request>", escape(url)));
    }
    let detail = match session.state {
        SessionState::Completed => session.reason.as_deref().map(|s| shorten(s, 2_500)),
        SessionState::Failed | SessionState::Cancelled => session
            .reason
            .as_deref()
            .map(|r| format!("Why: {}", shorten(r, 1_000))),
        SessionState::Queued => Some("Waiting for a free worker.".to_owned()),
        SessionState::Provisioning => None,
        SessionState::Running => facts.now_doing(),
    };
    let mut blocks: Vec<SlackBlock> = vec![section(&headline)];
    if let Some(detail) = &detail {
        blocks.push(section(detail));
    }
    blocks.push(
        SlackContextBlock::new(vec![SlackContextBlockElement::MarkDown(
            SlackBlockMarkDownText::new(format!(
                "Asked by <@{}> · <{}|session log>",
                session.trigger.author.id,
                escape(view.session_url)
            )),
        )])
        .into(),
    );
    if !session.state.is_terminal() {
        let stop = SlackBlockButtonElement::new(pt!("Stop"))
            .with_action_id(STOP_ACTION.into())
            .with_value(session.id.to_string())
            .with_style(SlackBlockButtonStyle::Danger);
        blocks.push(SlackActionsBlock::new(vec![SlackActionBlockElement::Button(stop)]).into());
    }
    let mut text = format!("lucid: {word} · {elapsed}");
    if let Some(cost) = cost {
        text.push_str(&format!(" · {cost}"));
    }
    Post { text, blocks }
}

/// The thread replies that `new` events call for, in order. `before` is the run's log
/// up to them (to pair an exit code with its command).
pub fn moments(before: &[Event], new: &[Event], session_url: &str) -> Vec<String> {
    let mut command = before.iter().rev().find_map(|e| match &e.body {
        EventBody::Command { command } => Some(command.as_str()),
        _ => None,
    });
    let mut out = Vec::new();
    for event in new {
        match &event.body {
            EventBody::Command { command: c } => command = Some(c),
            EventBody::Output {
                text,
                exit_code: Some(code),
            } if *code != 0 => {
                out.push(failed_command(command.unwrap_or("a command"), *code, text))
            }
            EventBody::FileEdit { path, diff } => {
                out.push(file_edit(path, diff, session_url, event.seq))
            }
            EventBody::PrOpened { url, number } => out.push(format!(
                ":arrow_heading_up: Opened <{}|pull request #{number}>",
                escape(url)
            )),
            _ => {}
        }
    }
    out
}

/// The last reply of a run, once the session has ended.
pub fn ending(session: &Session) -> Option<String> {
    let reason = session.reason.as_deref().unwrap_or_default();
    let text = match session.state {
        SessionState::Completed => {
            let mut text = format!(":white_check_mark: *Done.* {}", shorten(reason, 2_500));
            match &session.pr_url {
                Some(url) => text.push_str(&format!("\n:link: <{}|Pull request>", escape(url))),
                None => text.push_str("\nNo changes to push, so no pull request."),
            }
            text
        }
        SessionState::Failed => format!(":x: *The session failed:* {}", shorten(reason, 1_500)),
        SessionState::Cancelled => format!(
            ":black_square_for_stop: *Stopped* ({}).",
            shorten(reason, 300)
        ),
        _ => return None,
    };
    Some(text)
}

/// Joins replies into as few messages as fit, so a backlog costs few posts.
pub fn coalesce(replies: Vec<String>) -> Vec<String> {
    let mut messages: Vec<String> = Vec::new();
    for reply in replies {
        match messages.last_mut() {
            Some(last) if last.len() + 2 + reply.len() <= MAX_REPLY_CHARS => {
                last.push_str("\n\n");
                last.push_str(&reply);
            }
            _ => messages.push(shorten(&reply, MAX_REPLY_CHARS)),
        }
    }
    messages
}

fn failed_command(command: &str, code: i64, output: &str) -> String {
    let lines: Vec<&str> = output.lines().collect();
    let tail = &lines[lines.len().saturating_sub(OUTPUT_LINES)..];
    let mut text = format!(
        ":warning: `{}` failed (exit {code})",
        shorten(&one_line(command), 200).replace('`', "'")
    );
    if !tail.is_empty() {
        text.push_str(&format!("\n```{}```", fence_safe(&tail.join("\n"))));
    }
    text
}

fn file_edit(path: &str, diff: &str, session_url: &str, seq: u64) -> String {
    let (added, removed) = diff_counts(diff);
    let body: Vec<&str> = diff
        .lines()
        .filter(|l| !l.starts_with("+++") && !l.starts_with("---"))
        .collect();
    let mut text = format!(":pencil2: Edited `{}` (+{added} −{removed})", escape(path));
    let shown = &body[..body.len().min(DIFF_LINES)];
    if !shown.is_empty() {
        text.push_str(&format!("\n```{}```", fence_safe(&shown.join("\n"))));
    }
    if body.len() > DIFF_LINES {
        text.push_str(&format!(
            "\n…{} more lines: <{}/events?after={}&limit=1|full diff>",
            body.len() - DIFF_LINES,
            escape(session_url),
            seq.saturating_sub(1)
        ));
    }
    text
}

#[derive(Default)]
struct Facts<'a> {
    running: Option<&'a str>,
    last_thought: Option<&'a str>,
}

impl<'a> Facts<'a> {
    fn read(events: &'a [Event]) -> Self {
        let mut facts = Facts::default();
        for event in events {
            match &event.body {
                EventBody::Command { command } => facts.running = Some(command),
                EventBody::Output {
                    exit_code: Some(_), ..
                } => facts.running = None,
                EventBody::Thought { text } => facts.last_thought = Some(text),
                _ => {}
            }
        }
        facts
    }

    fn now_doing(&self) -> Option<String> {
        match (self.running, self.last_thought) {
            (Some(command), _) => Some(format!(
                "Running `{}`",
                shorten(&one_line(command), 200).replace('`', "'")
            )),
            (None, Some(thought)) => Some(format!("_{}_", shorten(&one_line(thought), 300))),
            (None, None) => Some("Reading the task.".to_owned()),
        }
    }
}

fn section(text: &str) -> SlackBlock {
    SlackSectionBlock::new().with_text(md!(text)).into()
}

/// Slack's three escapes: every other `<` would start markup.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Text inside a ``` block: escaped, and unable to close the block early.
fn fence_safe(text: &str) -> String {
    escape(text).replace("```", "``\u{200b}`")
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn shorten(text: &str, max: usize) -> String {
    let text = text.trim();
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        let cut: String = text.chars().take(max - 1).collect();
        format!("{cut}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{Author, DeliveryId, RepoName, ThreadRef, Trigger};

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
            repo: Some(RepoName::parse("acme/app").unwrap()),
            delivery: DeliveryId::parse("Ev1").unwrap(),
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
            session_url: "http://lucid/api/v1/sessions/x",
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
            "http://lucid/api/v1/sessions/s",
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
            reply.contains(
                "…10 more lines: <http://lucid/api/v1/sessions/s/events?after=6&limit=1|full diff>"
            ),
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

    #[test]
    fn replies_are_joined_while_they_fit_and_never_dropped() {
        let small: Vec<String> = (0..5).map(|i| format!("moment {i}")).collect();
        assert_eq!(coalesce(small).len(), 1);
        let big: Vec<String> = (0..3)
            .map(|i| format!("{i}{}", "x".repeat(2_000)))
            .collect();
        let joined = coalesce(big);
        assert_eq!(joined.len(), 3);
        assert!(joined.iter().all(|m| m.len() <= MAX_REPLY_CHARS));
        assert!(joined[2].starts_with('2'));
    }
}
