//! How a session's progress reads: its state in words, what it does now, its key
//! moments and how it ended. Platforms lay these out (a status message with a button,
//! a progress comment with a checklist) within their limits.

use super::Text;
use super::text::{one_line_within, shorten};
use crate::core::digest::{Digest, Moment, Step};
use crate::core::words::{diff_counts, dollars, elapsed_words, thousands};
use crate::core::{Session, SessionState, Timestamp, Usage};

/// Diff lines shown in a reply before it points to the whole diff.
pub const DIFF_LINES: usize = 20;
/// Last lines of a failing command's output shown in a reply.
pub const OUTPUT_LINES: usize = 12;

/// A state as a headline says it, with its emoji's short name.
pub fn state_words(state: SessionState) -> (&'static str, &'static str) {
    match state {
        SessionState::Queued => ("hourglass_flowing_sand", "Queued"),
        SessionState::Provisioning => ("package", "Starting a sandbox"),
        SessionState::Running => ("hammer_and_wrench", "Working"),
        SessionState::Completed => ("white_check_mark", "Done"),
        SessionState::Failed => ("x", "Failed"),
        SessionState::Cancelled => ("black_square_for_stop", "Stopped"),
    }
}

/// How long the session has run: to `now` while it is live, to its last event once it
/// has finished.
pub fn elapsed(session: &Session, digest: &Digest, now: Timestamp) -> String {
    let end = if session.state.is_terminal() {
        digest
            .last_at
            .unwrap_or(session.updated_at)
            .max(session.created_at)
    } else {
        now
    };
    let millis = end
        .as_millis()
        .saturating_sub(session.created_at.as_millis());
    elapsed_words(u64::try_from(millis / 1_000).unwrap_or(0))
}

/// What the session has spent: the session's own totals, or the log's last.
pub fn usage(session: &Session, digest: &Digest) -> Usage {
    if session.usage == Usage::default() {
        digest.last_usage.unwrap_or_default()
    } else {
        session.usage
    }
}

/// `$0.0123 (12,345 tokens in, 678 out)`, or nothing before anything was spent.
pub fn spent(usage: Usage) -> Option<String> {
    let any = usage.cost_micros > 0 || usage.tokens_in > 0 || usage.tokens_out > 0;
    any.then(|| {
        format!(
            "{} ({} tokens in, {} out)",
            dollars(usage.cost_micros),
            thousands(usage.tokens_in),
            thousands(usage.tokens_out)
        )
    })
}

/// The headline: state, repository, elapsed time, what was spent.
pub fn headline(session: &Session, digest: &Digest, now: Timestamp) -> Text {
    let (emoji, words) = state_words(session.state);
    let mut text = Text::new().emoji(emoji).plain(" ").strong(words);
    if let Some(repo) = &session.trigger.repo {
        text = text.plain(" on ").code(repo.to_string());
    }
    text = text.plain(format!(" · {}", elapsed(session, digest, now)));
    if let Some(spent) = spent(usage(session, digest)) {
        text = text.plain(format!(" · {spent}"));
    }
    text
}

/// What a live session is doing, in a line; how a finished one ended.
pub fn now_doing(session: &Session, digest: &Digest) -> Option<Text> {
    match session.state {
        SessionState::Queued => Some(Text::new().plain("Waiting for a free worker.")),
        SessionState::Provisioning => None,
        SessionState::Running if let Some(waiting) = digest.waiting => Some(
            super::waiting_for_permission(waiting.title, waiting.within_secs),
        ),
        SessionState::Running => Some(match (digest.running(), digest.last_thought) {
            (Some(command), _) => Text::new()
                .plain("Running ")
                .code(one_line_within(command, 200)),
            (None, Some(thought)) if !thought.trim().is_empty() => {
                Text::new().plain(one_line_within(thought, 300))
            }
            _ => Text::new().plain("Reading the task."),
        }),
        SessionState::Completed => {
            summary(session, digest).map(|s| Text::new().plain(shorten(&s, 2_500)))
        }
        SessionState::Failed => Some(Text::new().plain(format!(
            "Why: {}",
            one_line_within(&failure(session, digest), 1_000)
        ))),
        SessionState::Cancelled => non_empty(session.reason.as_deref())
            .map(|reason| Text::new().plain(format!("Why: {}", one_line_within(reason, 1_000)))),
    }
}

/// A completed session's summary: its reason, the completing status's message, or
/// its last thought.
pub fn summary<'a>(session: &'a Session, digest: &Digest<'a>) -> Option<String> {
    non_empty(session.reason.as_deref())
        .or(non_empty(digest.completed_message))
        .or(non_empty(digest.last_thought))
        .map(|s| shorten(s, 4_000))
}

/// Why a session failed, whatever recorded it.
pub fn failure(session: &Session, digest: &Digest) -> String {
    non_empty(session.reason.as_deref())
        .or(non_empty(digest.failed_message))
        .or(non_empty(digest.last_error))
        .unwrap_or("no reason was recorded")
        .to_owned()
}

/// The last words of a run, once its session has ended; None while it is live.
pub fn ending(session: &Session, digest: &Digest) -> Option<Text> {
    let text = match session.state {
        SessionState::Completed => {
            let mut text = Text::new()
                .emoji("white_check_mark")
                .plain(" ")
                .strong("Done.");
            if let Some(summary) = summary(session, digest) {
                text = text.plain(format!(" {}", shorten(&summary, 2_500)));
            }
            // The link is announced once in a thread: by the run that opened it.
            match (digest.last_pr, &session.pr_url) {
                (Some((_, url)), _) => text
                    .plain("\n")
                    .emoji("link")
                    .plain(" ")
                    .link("Pull request", url),
                (None, Some(_)) => text.plain("\nThe pull request is updated."),
                (None, None) => text.plain("\nNo changes to push, so no pull request."),
            }
        }
        SessionState::Failed => {
            let text = Text::new()
                .emoji("x")
                .plain(" ")
                .strong("The session failed:")
                .plain(format!(" {}", shorten(&failure(session, digest), 1_500)));
            // Out of budget with changes: they went up as a draft, opened by this run.
            match digest.last_pr {
                Some((_, url)) => text
                    .plain("\n")
                    .emoji("link")
                    .plain(" What was done is in a ")
                    .link("draft pull request", url)
                    .plain("."),
                None => text,
            }
        }
        SessionState::Cancelled => Text::new()
            .emoji("black_square_for_stop")
            .plain(" ")
            .strong("Stopped")
            .plain(format!(
                " ({}).",
                shorten(session.reason.as_deref().unwrap_or("stopped"), 300)
            )),
        _ => return None,
    };
    Some(text)
}

/// A key moment as a reply. `session_url` links to the whole diff.
pub fn moment(moment: &Moment, session_url: &str) -> Text {
    match moment {
        Moment::PermissionAsked {
            number,
            title,
            within_secs,
        } => super::permission_asked(*number, title, *within_secs),
        Moment::PreviewOpened { port, url } => Text::new()
            .emoji("eyes")
            .plain(format!(" A preview of port {port} is live: "))
            .link("open the preview", *url)
            .plain(" (while the sandbox runs)."),
        Moment::PreviewRefused { reason } => Text::new()
            .emoji("warning")
            .plain(format!(" No preview: {reason}.")),
        Moment::CommandFailed {
            command,
            exit_code,
            output,
        } => {
            let lines: Vec<&str> = output.lines().collect();
            let tail = &lines[lines.len().saturating_sub(OUTPUT_LINES)..];
            let text = Text::new()
                .emoji("warning")
                .plain(" ")
                .code(one_line_within(command, 200))
                .plain(format!(" failed (exit {exit_code})"));
            if tail.is_empty() {
                text
            } else {
                text.block(tail.join("\n"))
            }
        }
        Moment::FileEdited { path, diff, seq } => {
            let (added, removed) = diff_counts(diff);
            let body: Vec<&str> = diff
                .lines()
                .filter(|l| !l.starts_with("+++") && !l.starts_with("---"))
                .collect();
            let mut text = Text::new()
                .emoji("pencil2")
                .plain(" Edited ")
                .code(*path)
                .plain(format!(" (+{added} −{removed})"));
            let shown = &body[..body.len().min(DIFF_LINES)];
            if !shown.is_empty() {
                text = text.block(shown.join("\n"));
            }
            if body.len() > DIFF_LINES {
                text = text
                    .plain(format!("\n…{} more lines: ", body.len() - DIFF_LINES))
                    .link(
                        "full diff",
                        // The page marks each event with its number.
                        format!("{session_url}#event-{seq}"),
                    );
            }
            text
        }
    }
}

/// A changed file whose diff is not text, in place of its diff.
pub fn binary_file_changed() -> &'static str {
    "(a binary file changed)"
}

/// A changed file whose diff is too big to show, in place of its diff.
pub fn diff_too_large(added: &str, removed: &str) -> String {
    format!("(too large to show: +{added} −{removed})")
}

/// One step of a checklist, and whether it is done.
pub fn step(step: &Step) -> (bool, Text) {
    match step {
        Step::Command { command, exit_code } => {
            let command = Text::new().code(one_line_within(command, 120));
            match exit_code {
                Some(0) => (true, command),
                Some(code) => (true, command.plain(format!(" — exited {code}"))),
                None => (false, command.plain(" — did not finish")),
            }
        }
        Step::Edit {
            path,
            added,
            removed,
            checkpoint,
        } => {
            let mut text = Text::new()
                .plain("edited ")
                .code(one_line_within(path, 120))
                .plain(format!(" (+{added} −{removed})"));
            if let Some(n) = checkpoint {
                text = text.plain(format!(" · step {n}"));
            }
            (true, text)
        }
        Step::Reverted { checkpoint, files } => {
            (true, Text::new().plain(went_back(*checkpoint, *files)))
        }
        Step::RevertRefused { reason } => (
            false,
            Text::new().plain(format!("could not go back: {reason}")),
        ),
        Step::PreviewRefused { reason } => {
            (false, Text::new().plain(format!("no preview: {reason}")))
        }
        Step::Pr { number, url } => (
            true,
            Text::new()
                .plain("opened ")
                .link(format!("#{number}"), *url),
        ),
        Step::Said { author, text } => (
            true,
            Text::new().plain(format!(
                "{} said: {}",
                one_line_within(author, 40),
                one_line_within(text, 200)
            )),
        ),
    }
}

/// The work tree went back to step `checkpoint`, changing `files` files back.
pub fn went_back(checkpoint: u32, files: usize) -> String {
    let noun = if files == 1 { "file" } else { "files" };
    format!("went back to step {checkpoint} ({files} {noun} changed back)")
}

/// `… and N earlier steps`.
pub fn earlier_steps(hidden: usize) -> Text {
    let noun = if hidden == 1 { "step" } else { "steps" };
    Text::new().plain(format!("… and {hidden} earlier {noun}"))
}

/// Who asked, and where the whole session is.
pub fn asked_by(session: &Session, session_url: &str) -> Text {
    Text::new()
        .plain("Asked by ")
        .mention(&session.trigger.author)
        .plain(" · ")
        .link("session log", session_url)
}

/// The label of the button that stops a session.
pub const STOP_BUTTON: &str = "Stop";

/// A short line for notifications and previews: `lucid: Working · 1m 05s`.
pub fn preview(session: &Session, digest: &Digest, now: Timestamp) -> String {
    let (_, words) = state_words(session.state);
    let mut line = format!("lucid: {words} · {}", elapsed(session, digest, now));
    let usage = usage(session, digest);
    if usage.cost_micros > 0 {
        line.push_str(&format!(" · {}", dollars(usage.cost_micros)));
    }
    line
}

fn non_empty(s: Option<&str>) -> Option<&str> {
    s.filter(|s| !s.trim().is_empty())
}

/// Labels of a progress comment's parts.
pub const RUNNING_NOW: &str = "Running now:";
pub const LATEST_NOTE: &str = "Latest note:";
pub const PULL_REQUEST: &str = "Pull request:";
pub const PREVIEW: &str = "Preview:";
pub const FAILED: &str = "Failed:";
pub const STOPPED: &str = "Stopped:";
/// Where a message too long for its platform was cut.
pub const CUT_TO_FIT: &str = "… (cut to fit in a comment)";

/// A link to the session, named by the start of its id.
pub fn session_link(id: crate::core::SessionId, session_url: &str) -> Text {
    let short: String = id.to_string().chars().take(8).collect();
    Text::new().link(format!("Session {short}"), session_url)
}

/// Why a run ended before its work was done, kept as its session's reason.
pub fn step_limit(steps: u32) -> String {
    format!("the step limit ({steps}) was reached")
}

pub fn token_budget(tokens: u64) -> String {
    format!("the token budget ({tokens} tokens) was reached")
}

pub fn cost_budget(micros: u64) -> String {
    format!("the cost budget (${:.2}) was reached", micros as f64 / 1e6)
}

/// The reason of a run stopped as someone asked.
pub const STOPPED_AS_ASKED: &str = "stopped";
