//! The words of lucid's own pages: labels, buttons and the sentences around a session's
//! timeline. The state names and amounts are the threads' own (`state_words`, `spent`),
//! so a page and a thread say the same thing the same way.

use crate::core::words::{dollars, elapsed_words, thousands};

/// Fixed words, one field each, so a template names what it shows.
#[derive(Debug)]
pub struct PageWords {
    pub sessions: &'static str,
    pub sign_in: &'static str,
    pub sign_in_heading: &'static str,
    pub sign_in_why: &'static str,
    pub password: &'static str,
    pub wrong_password: &'static str,
    pub sign_in_off: &'static str,
    pub sign_out: &'static str,
    pub new_session: &'static str,
    pub repository: &'static str,
    pub repository_hint: &'static str,
    pub task: &'static str,
    /// The new session's agent, chosen among those this lucid has.
    pub agent: &'static str,
    pub start: &'static str,
    pub all_states: &'static str,
    pub all_platforms: &'static str,
    pub any_repository: &'static str,
    pub filter: &'static str,
    pub no_sessions: &'static str,
    pub no_match: &'static str,
    pub older: &'static str,
    pub newest: &'static str,
    pub column_task: &'static str,
    pub column_state: &'static str,
    pub column_platform: &'static str,
    pub column_repository: &'static str,
    pub column_asked_by: &'static str,
    pub column_cost: &'static str,
    pub column_duration: &'static str,
    pub column_pr: &'static str,
    pub conversation: &'static str,
    pub open_conversation: &'static str,
    pub pull_request: &'static str,
    pub nothing_spent: &'static str,
    pub live: &'static str,
    pub reconnecting: &'static str,
    pub finished: &'static str,
    pub follow_up: &'static str,
    pub follow_up_hint: &'static str,
    pub send: &'static str,
    pub send_and_resume: &'static str,
    pub stop: &'static str,
    pub share_heading: &'static str,
    pub share_link_is: &'static str,
    pub new_share_link: &'static str,
    pub new_share_link_once: &'static str,
    pub revoke_shares: &'static str,
    pub shares_off: &'static str,
    pub read_only: &'static str,
    pub not_found: &'static str,
    pub sign_in_to_see: &'static str,
    pub bad_form: &'static str,
    pub no_output: &'static str,
    pub output: &'static str,
    pub going_back: &'static str,
    pub undo: &'static str,
    pub go_back_to: &'static str,
    pub go_back: &'static str,
    pub not_a_step: &'static str,
    /// The box on a session's page while the agent waits for leave.
    pub permission_heading: &'static str,
    pub allow: &'static str,
    pub reject: &'static str,
    pub not_a_request: &'static str,
    pub not_an_answer: &'static str,
    /// An answer for a session that has finished (the API's and the form's 409).
    pub nothing_waits: &'static str,
}

pub static WORDS: PageWords = PageWords {
    sessions: "Sessions",
    sign_in: "Sign in",
    sign_in_heading: "Sign in to lucid",
    sign_in_why: "Use the API token or the UI password this lucid was given.",
    password: "Password",
    wrong_password: "That password is not right.",
    sign_in_off: "Signing in is off: set LUCID_API_TOKEN or LUCID_UI_PASSWORD.",
    sign_out: "Sign out",
    new_session: "New session",
    repository: "Repository",
    repository_hint: "owner/name",
    task: "Task",
    agent: "Agent",
    start: "Start",
    all_states: "Any state",
    all_platforms: "Any platform",
    any_repository: "Any repository",
    filter: "Filter",
    no_sessions: "No sessions yet. Mention lucid in a thread, or start one here.",
    no_match: "No sessions match these filters.",
    older: "Older sessions",
    newest: "Newest sessions",
    column_task: "Task",
    column_state: "State",
    column_platform: "From",
    column_repository: "Repository",
    column_asked_by: "Asked by",
    column_cost: "Cost",
    column_duration: "Took",
    column_pr: "Pull request",
    conversation: "conversation",
    open_conversation: "Open the conversation",
    pull_request: "Pull request",
    nothing_spent: "Nothing spent yet",
    live: "Live",
    reconnecting: "Reconnecting…",
    finished: "Finished",
    follow_up: "Message the agent",
    follow_up_hint: "A follow-up for the agent; a finished session takes it up again.",
    send: "Send",
    send_and_resume: "Send and resume",
    stop: "Stop",
    share_heading: "Sharing",
    share_link_is: "Anyone with this link can read this session:",
    new_share_link: "Make a new share link",
    new_share_link_once: "The new share link (shown once):",
    revoke_shares: "Revoke every share link",
    shares_off: "Share links are off (LUCID_SHARE_LINKS).",
    read_only: "You are reading a shared session.",
    not_found: "No such session, or its link was revoked.",
    sign_in_to_see: "Sign in to see this page.",
    bad_form: "That form has expired: reload the page and try again.",
    no_output: "(no output)",
    output: "Output",
    going_back: "Going back",
    undo: "Undo the last step",
    go_back_to: "Back to step",
    go_back: "Go back",
    not_a_step: "A step is a whole number, such as 3.",
    permission_heading: "The agent asks leave",
    allow: super::ALLOW_BUTTON,
    reject: super::REJECT_BUTTON,
    not_a_request: "A request is a whole number, such as 2.",
    not_an_answer: "An answer is yes (allow) or no (reject).",
    nothing_waits: "the session is over: nothing waits for an answer",
};

/// What the agent asks leave to do, as the permission box shows it: one line, cut.
pub fn permission_title(title: &str) -> String {
    super::shorten(&super::one_line(title), 300)
}

/// Under the permission box's title: which request it is, and what silence does.
pub fn permission_note(number: u32, within_secs: u64) -> String {
    let within = humantime::format_duration(std::time::Duration::from_secs(within_secs));
    format!("Request {number} · without an answer within {within} of its asking, it is rejected")
}

/// A checkpoint's mark in the timeline: the step and the tool that made it.
pub fn step_mark(number: u32, label: &str, files: usize) -> String {
    if number == 0 {
        return "Step 0 · the work tree as checked out".to_owned();
    }
    let noun = if files == 1 { "file" } else { "files" };
    format!("Step {number} · {label} · {files} {noun}")
}

/// Someone asked to go back, as the timeline says it.
pub fn asked_to_go_back(author: &str, checkpoint: Option<u32>) -> String {
    match checkpoint {
        None => format!("{author} asked to undo the last step"),
        Some(n) => format!("{author} asked to go back to step {n}"),
    }
}

/// A `host_reached` event's words; None for any other event.
pub fn host_reached_words(body: &crate::core::EventBody) -> Option<String> {
    match body {
        crate::core::EventBody::HostReached {
            host,
            port,
            bytes_up,
            bytes_down,
            refused,
            error,
        } => Some(host_reached(
            host,
            *port,
            *bytes_up,
            *bytes_down,
            refused.as_deref(),
            error.as_deref(),
        )),
        _ => None,
    }
}

/// A connection through the registry proxy, as the timeline says it.
pub fn host_reached(
    host: &str,
    port: u16,
    up: u64,
    down: u64,
    refused: Option<&str>,
    error: Option<&str>,
) -> String {
    match (refused, error) {
        (Some(why), _) => format!("Refused {host}:{port}: {why}"),
        (None, Some(why)) => format!("Reached {host}:{port}, then: {why}"),
        (None, None) => format!(
            "Reached {host}:{port} · {} down, {} up",
            bytes(down),
            bytes(up)
        ),
    }
}

/// A byte count as people read it.
fn bytes(n: u64) -> String {
    match n {
        n if n >= 1 << 20 => format!("{:.1} MB", n as f64 / f64::from(1 << 20)),
        n if n >= 1 << 10 => format!("{:.1} kB", n as f64 / f64::from(1 << 10)),
        n => format!("{n} B"),
    }
}

/// The sandbox made ready from the repository's prepared image, as the timeline says
/// it: reused, or made now by the setup.
pub fn prepared(image: &str, reused: bool, took_ms: u64) -> String {
    let took = if took_ms < 10_000 {
        format!("{:.1}s", took_ms as f64 / 1000.0)
    } else {
        elapsed_words(took_ms / 1000)
    };
    // Its key is a long hash: its start tells it apart.
    let image = match image.split_once(':') {
        Some((name, tag)) if tag.chars().count() > 12 => {
            format!("{name}:{}…", tag.chars().take(12).collect::<String>())
        }
        _ => image.to_owned(),
    };
    if reused {
        format!("Sandbox ready in {took} from the prepared image {image}")
    } else {
        format!("Setup done and kept as {image}; sandbox ready in {took}")
    }
}

/// A preview asked for, as the timeline says it.
pub fn asked_to_preview(author: &str, port: u16) -> String {
    format!("{author} asked for a preview of port {port}")
}

/// A preview opened, as the timeline says it.
pub fn preview_opened(port: u16) -> String {
    format!("A preview of port {port} is live while the sandbox runs")
}

/// A preview refused, as the timeline says it.
pub fn no_preview(reason: &str) -> String {
    format!("No preview: {reason}")
}

/// Going back was refused, as the timeline says it.
pub fn could_not_go_back(reason: &str) -> String {
    format!("Could not go back: {reason}")
}

/// The month's total on the session list.
pub fn month_total(micros: u64, tokens: u64, sessions: u64) -> String {
    let plural = if sessions == 1 { "" } else { "s" };
    format!(
        "This month: {} over {} session{plural}, {} tokens",
        dollars(micros),
        thousands(sessions),
        thousands(tokens)
    )
}

/// A command's end, as its badge says it.
pub fn exit_status(code: Option<i64>) -> String {
    match code {
        Some(0) => "exit 0".to_owned(),
        Some(code) => format!("exit {code}"),
        None => "no exit code".to_owned(),
    }
}

/// How many lines an output has, as its fold says it.
pub fn output_lines(lines: usize) -> String {
    match lines {
        1 => "1 line".to_owned(),
        n => format!("{} lines", thousands(n as u64)),
    }
}

/// Lines left out of the middle of an output or the end of a diff.
pub fn lines_cut(lines: usize) -> String {
    match lines {
        1 => "… 1 line cut …".to_owned(),
        n => format!("… {} lines cut …", thousands(n as u64)),
    }
}

/// Who said something in the thread.
pub fn said(author: &str) -> String {
    format!("{author} said")
}

/// How long a session ran, or has run so far.
pub fn took(seconds: u64) -> String {
    elapsed_words(seconds)
}

/// A pull request's card title.
pub fn pull_request(number: u64) -> String {
    format!("Pull request #{number}")
}

/// Where the session came from, on its page.
pub fn asked_on(author: &str, platform_title: &str) -> String {
    format!("Asked by {author} on {platform_title}")
}

/// A page's title in the browser's tab.
pub fn tab_title(what: &str) -> String {
    format!("{what} · lucid")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_word_on_the_pages() {
        let formatted = [
            month_total(1_234_500, 1_234_567, 12),
            month_total(0, 0, 1),
            exit_status(Some(0)),
            exit_status(Some(127)),
            exit_status(None),
            output_lines(1),
            output_lines(1_200),
            lines_cut(1),
            lines_cut(340),
            said("Ada"),
            took(3_725),
            pull_request(7),
            asked_on("Ada", "Slack"),
            tab_title("Sessions"),
            step_mark(0, "start", 0),
            step_mark(3, "edit_file", 1),
            step_mark(4, "shell", 2),
            asked_to_go_back("Ada", None),
            asked_to_go_back("Ada", Some(2)),
            could_not_go_back("there is no step 9; the last is step 4"),
            asked_to_preview("Ada", 3000),
            host_reached("pypi.org", 443, 2_300, 5_400_000, None, None),
            host_reached(
                "example.com",
                443,
                0,
                0,
                Some("not on the allow-list"),
                None,
            ),
            host_reached("pypi.org", 443, 100, 0, None, Some("no answer in 30s")),
            preview_opened(3000),
            no_preview("this lucid serves no previews"),
            prepared(&format!("lucid-prepared:{}", "3f9a".repeat(16)), true, 840),
            prepared("lucid-prepared:3f9a", false, 184_000),
            permission_note(2, 300),
            permission_note(1, 90),
        ];
        insta::assert_snapshot!(format!("{WORDS:#?}\n{}", formatted.join("\n")));
    }
}
