//! A session's events as the page shows them: one list item each, rendered here on the
//! server (the live stream sends the same HTML), escaped by the template.

use crate::core::words::diff_counts;
use crate::core::{Event, EventBody};
use crate::messages::page::{self, PageWords, WORDS};
use crate::messages::state_words;
use askama::Template;

/// Lines of an output shown before and after the cut.
const OUTPUT_HEAD: usize = 20;
const OUTPUT_TAIL: usize = 20;
/// Lines of a diff shown before the rest is cut.
const DIFF_LINES: usize = 400;

#[derive(Template)]
#[template(path = "event.html")]
struct Item<'a> {
    w: &'static PageWords,
    seq: u64,
    kind: &'static str,
    at: String,
    at_short: String,
    text: &'a str,
    said: String,
    state: &'static str,
    state_words: &'static str,
    exit: String,
    exit_ok: bool,
    lines: String,
    head: String,
    cut: Option<String>,
    tail: String,
    path: &'a str,
    added: usize,
    removed: usize,
    diff: Vec<DiffLine<'a>>,
    url: &'a str,
    label: String,
    /// A permission request's number, and what its box says under its title.
    request: u32,
    note: String,
}

struct DiffLine<'a> {
    class: &'static str,
    text: &'a str,
}

impl<'a> Item<'a> {
    fn new(event: &Event, kind: &'static str) -> Self {
        let at = crate::core::spending::day_of(event.at);
        let clock = clock_of(event.at.as_millis());
        Item {
            w: &WORDS,
            seq: event.seq,
            kind,
            at: format!("{at}T{clock}Z"),
            at_short: clock,
            text: "",
            said: String::new(),
            state: "",
            state_words: "",
            exit: String::new(),
            exit_ok: true,
            lines: String::new(),
            head: String::new(),
            cut: None,
            tail: String::new(),
            path: "",
            added: 0,
            removed: 0,
            diff: Vec::new(),
            url: "",
            label: String::new(),
            request: 0,
            note: String::new(),
        }
    }
}

/// `HH:MM:SS` (UTC) of a time in milliseconds.
fn clock_of(millis: i64) -> String {
    let seconds = millis.div_euclid(1000).rem_euclid(86_400);
    format!(
        "{:02}:{:02}:{:02}",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60
    )
}

/// Only web addresses become links: anything else (`javascript:`) stays text.
pub(super) fn is_web_address(url: &str) -> bool {
    url.starts_with("https://") || url.starts_with("http://")
}

/// The event's list item; empty for events the page shows elsewhere (usage).
pub(super) fn render(event: &Event) -> String {
    let item = match &event.body {
        EventBody::Usage { .. } => return String::new(),
        EventBody::Thought { text } => Item {
            text,
            ..Item::new(event, "thought")
        },
        EventBody::Command { command } => Item {
            text: command,
            ..Item::new(event, "command")
        },
        EventBody::Output { text, exit_code } => output(event, text, *exit_code),
        EventBody::FileEdit { path, diff } => file_edit(event, path, diff),
        EventBody::Status { state, message } => {
            let (_, words) = state_words(*state);
            Item {
                state: state.as_str(),
                state_words: words,
                text: message.as_deref().unwrap_or_default(),
                ..Item::new(event, "status")
            }
        }
        EventBody::UserMessage { author, text } => Item {
            said: page::said(author),
            text,
            ..Item::new(event, "user_message")
        },
        EventBody::PrOpened { url, number } => Item {
            url: if is_web_address(url) { url } else { "" },
            text: url,
            label: page::pull_request(*number),
            ..Item::new(event, "pr_opened")
        },
        EventBody::Error { message } => Item {
            text: message,
            ..Item::new(event, "error")
        },
        EventBody::Checkpoint {
            number,
            label,
            files,
        } => Item {
            label: page::step_mark(*number, label, files.len()),
            ..Item::new(event, "checkpoint")
        },
        EventBody::RevertAsked { author, checkpoint } => Item {
            label: page::asked_to_go_back(author, *checkpoint),
            ..Item::new(event, "revert_asked")
        },
        EventBody::Reverted { checkpoint, files } => Item {
            label: crate::messages::went_back(*checkpoint, files.len()),
            ..Item::new(event, "reverted")
        },
        EventBody::RevertRefused { reason } => Item {
            label: page::could_not_go_back(reason),
            ..Item::new(event, "revert_refused")
        },
        EventBody::HostReached { .. } => Item {
            label: page::host_reached_words(&event.body).unwrap_or_default(),
            ..Item::new(event, "host_reached")
        },
        EventBody::PreviewAsked { author, port } => Item {
            label: page::asked_to_preview(author, *port),
            ..Item::new(event, "preview_asked")
        },
        EventBody::PreviewOpened { port, url } => Item {
            label: page::preview_opened(*port),
            url: if is_web_address(url) { url } else { "" },
            ..Item::new(event, "preview_opened")
        },
        EventBody::PreviewRefused { reason } => Item {
            label: page::no_preview(reason),
            ..Item::new(event, "revert_refused")
        },
        EventBody::AgentLog { agent, text } => Item {
            label: crate::messages::agent_log(agent, text),
            head: text.clone(),
            ..Item::new(event, "agent_log")
        },
        // The item carries what the page's permission box shows (see assets/live.js).
        EventBody::PermissionAsked {
            number,
            title,
            within_secs,
            ..
        } => Item {
            label: crate::messages::permission_request(*number, title),
            said: page::permission_title(title),
            request: *number,
            note: page::permission_note(*number, *within_secs),
            ..Item::new(event, "permission_asked")
        },
        EventBody::PermissionAnswered {
            author,
            number,
            allow,
        } => Item {
            label: crate::messages::permission_answered(author, *number, *allow),
            ..Item::new(event, "permission_answered")
        },
        EventBody::PermissionSettled {
            number,
            outcome,
            by,
        } => Item {
            label: crate::messages::permission_settled(*number, *outcome, by.as_deref()),
            request: *number,
            ..Item::new(event, "permission_settled")
        },
        EventBody::Prepared {
            image,
            reused,
            took_ms,
        } => Item {
            label: page::prepared(image, *reused, *took_ms),
            ..Item::new(event, "prepared")
        },
    };
    item.render().unwrap_or_default()
}

fn output<'a>(event: &Event, text: &'a str, exit_code: Option<i64>) -> Item<'a> {
    let lines: Vec<&str> = text.lines().collect();
    let (head, cut, tail) = if lines.len() > OUTPUT_HEAD + OUTPUT_TAIL {
        let cut = lines.len() - OUTPUT_HEAD - OUTPUT_TAIL;
        (
            lines[..OUTPUT_HEAD].join("\n"),
            Some(page::lines_cut(cut)),
            lines[lines.len() - OUTPUT_TAIL..].join("\n"),
        )
    } else {
        (lines.join("\n"), None, String::new())
    };
    Item {
        exit: page::exit_status(exit_code),
        exit_ok: exit_code == Some(0),
        lines: if lines.is_empty() {
            WORDS.no_output.to_owned()
        } else {
            page::output_lines(lines.len())
        },
        head,
        cut,
        tail,
        ..Item::new(event, "output")
    }
}

fn file_edit<'a>(event: &Event, path: &'a str, diff: &'a str) -> Item<'a> {
    let (added, removed) = diff_counts(diff);
    let body: Vec<&str> = diff
        .lines()
        .filter(|l| !l.starts_with("+++") && !l.starts_with("---"))
        .collect();
    let shown = body.iter().take(DIFF_LINES).map(|line| DiffLine {
        class: match line.as_bytes().first() {
            Some(b'+') => "add",
            Some(b'-') => "del",
            Some(b'@') => "hunk",
            _ => "ctx",
        },
        text: line,
    });
    Item {
        path,
        added,
        removed,
        diff: shown.collect(),
        cut: (body.len() > DIFF_LINES).then(|| page::lines_cut(body.len() - DIFF_LINES)),
        ..Item::new(event, "file_edit")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{SessionId, SessionState, Timestamp};

    fn event(body: EventBody) -> Event {
        Event {
            session: SessionId::new(),
            seq: 7,
            at: Timestamp::from_millis(1_764_561_600_000),
            body,
        }
    }

    #[test]
    fn untrusted_text_is_escaped_in_every_kind() {
        let hostile = "<script>alert(1)</script>\"'&";
        let bodies = [
            EventBody::Thought {
                text: hostile.into(),
            },
            EventBody::Command {
                command: hostile.into(),
            },
            EventBody::Output {
                text: hostile.into(),
                exit_code: Some(1),
            },
            EventBody::FileEdit {
                path: hostile.into(),
                diff: format!("+{hostile}\n-{hostile}\n"),
            },
            EventBody::Status {
                state: SessionState::Failed,
                message: Some(hostile.into()),
            },
            EventBody::UserMessage {
                author: hostile.into(),
                text: hostile.into(),
            },
            EventBody::PrOpened {
                url: format!("javascript:{hostile}"),
                number: 1,
            },
            EventBody::Error {
                message: hostile.into(),
            },
            EventBody::PermissionAsked {
                number: 1,
                title: hostile.into(),
                tool: None,
                within_secs: 300,
            },
            EventBody::PermissionAnswered {
                author: hostile.into(),
                number: Some(1),
                allow: true,
            },
            EventBody::PermissionSettled {
                number: 1,
                outcome: crate::core::PermissionOutcome::Rejected,
                by: Some(hostile.into()),
            },
        ];
        for body in bodies {
            let kind = body.kind();
            let html = render(&event(body));
            assert!(html.contains("&#60;script&#62;"), "{kind}: {html}");
            assert!(!html.contains("<script"), "{kind}: {html}");
            assert!(!html.contains("href=\"javascript"), "{kind}: {html}");
            assert!(html.contains("id=\"event-7\""), "{kind}: {html}");
        }
    }

    #[test]
    fn a_long_output_shows_its_head_and_tail_and_says_what_was_cut() {
        let text: String = (1..=100).map(|i| format!("line {i}\n")).collect();
        let html = render(&event(EventBody::Output {
            text,
            exit_code: Some(2),
        }));
        assert!(
            html.contains("line 20</pre>") && html.contains("<pre>line 81"),
            "{html}"
        );
        assert!(
            !html.contains("line 21\n") && !html.contains("line 80\n"),
            "{html}"
        );
        assert!(
            html.contains("… 60 lines cut …") && html.contains("exit 2"),
            "{html}"
        );
        assert!(html.contains("100 lines"), "{html}");
    }

    #[test]
    fn a_diff_is_coloured_by_line_and_counted() {
        let html = render(&event(EventBody::FileEdit {
            path: "src/a.rs".into(),
            diff: "--- a/src/a.rs\n+++ b/src/a.rs\n@@ -1 +1 @@\n-old\n+new\n+more\n".into(),
        }));
        assert!(html.contains(r#"<span class="del">-old</span>"#), "{html}");
        assert!(html.contains(r#"<span class="add">+new</span>"#), "{html}");
        assert!(
            html.contains(r#"<span class="hunk">@@ -1 +1 @@</span>"#),
            "{html}"
        );
        assert!(html.contains("+2") && html.contains("−1"), "{html}");
        assert!(
            render(&event(EventBody::Usage {
                tokens_in: 1,
                tokens_out: 1,
                cost_micros: 1
            }))
            .is_empty()
        );
    }
}
