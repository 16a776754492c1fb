//! The progress comment: the one comment lucid keeps in an issue and edits in place as
//! a session runs. [`render`] is pure: it reads the session and its run's digest and
//! returns the comment's Markdown, so what the thread shows is tested without GitHub.
//!
//! The comment is compact: a headline (state, elapsed time, cost), what runs now, a
//! checklist of the last steps, how the session ended, and a link to the session.
//! Its words come from [`crate::messages`]; everything taken from the log is bounded,
//! so the body stays under [`MAX_CHARS`] whatever the log holds.

use super::markup::{GithubMarkup, code, pr_link, prose, quote};
use crate::core::digest::{Digest, Step};
use crate::core::{Event, Session, SessionState, Timestamp};
use crate::messages::{self, Text, one_line_within, shorten};
use std::fmt::Write as _;

/// The most the body may hold. GitHub refuses comments over 65,536 characters.
pub const MAX_CHARS: usize = 60_000;
/// How many steps the checklist lists; older ones are counted, not shown.
pub const MAX_STEPS: usize = 30;

const COMMAND_CHARS: usize = 120;
/// `**Pull request:** #12`, once there is one.
fn pull_request_line(body: &mut String, session: &Session, digest: &Digest) {
    let pr_url = session
        .pr_url
        .as_deref()
        .or(digest.last_pr.map(|(_, url)| url));
    if let Some(url) = pr_url {
        let number = digest
            .last_pr
            .filter(|(_, pr)| *pr == url)
            .map(|(number, _)| number);
        let _ = write!(
            body,
            "\n\n**{}** {}",
            messages::PULL_REQUEST,
            pr_link(number, url)
        );
    }
}

#[cfg(test)]
const MESSAGE_CHARS: usize = 200;
const NOTE_CHARS: usize = 300;
const REASON_CHARS: usize = 1_000;
const SUMMARY_CHARS: usize = 4_000;

/// Everything the progress comment shows, read from the session and its event log.
pub struct ProgressView<'a> {
    pub session: &'a Session,
    /// The run's events, oldest first.
    pub events: &'a [Event],
    pub now: Timestamp,
    /// Link to the session in lucid's API or UI.
    pub session_url: &'a str,
}

fn md(text: &Text) -> String {
    text.render(&GithubMarkup)
}

/// The comment's Markdown body, at most [`MAX_CHARS`] characters.
pub fn render(view: &ProgressView) -> String {
    let session = view.session;
    let digest = Digest::read(view.events);
    let live = !session.state.is_terminal();

    let mut body = md(&messages::headline(session, &digest, view.now));
    match session.state {
        SessionState::Queued | SessionState::Provisioning | SessionState::Running => {
            // The agent waits for a person: GitHub takes no replies, so this asks.
            if let Some(waiting) = digest.waiting {
                let asking = messages::waiting_for_permission(waiting.title, waiting.within_secs);
                let _ = write!(body, "\n\n{}", md(&asking));
            }
            if let Some(command) = digest.running() {
                let _ = write!(
                    body,
                    "\n\n**{}** {}",
                    messages::RUNNING_NOW,
                    code(&one_line_within(command, COMMAND_CHARS))
                );
            }
            if let Some(note) = digest.last_thought.filter(|t| !t.trim().is_empty()) {
                let _ = write!(
                    body,
                    "\n\n> **{}** {}",
                    messages::LATEST_NOTE,
                    prose(&one_line_within(note, NOTE_CHARS))
                );
            }
        }
        SessionState::Completed => {
            let summary = digest
                .completed_message
                .filter(|m| !m.trim().is_empty())
                .or(digest.last_thought.filter(|t| !t.trim().is_empty()));
            if let Some(summary) = summary {
                body.push_str("\n\n");
                body.push_str(&quote(&shorten(summary.trim(), SUMMARY_CHARS)));
            }
            pull_request_line(&mut body, session, &digest);
        }
        SessionState::Failed => {
            let reason = messages::failure(session, &digest);
            let _ = write!(
                body,
                "\n\n**{}** {}",
                messages::FAILED,
                prose(&one_line_within(&reason, REASON_CHARS))
            );
            // A draft of what was done, when a budget ran out.
            pull_request_line(&mut body, session, &digest);
        }
        SessionState::Cancelled => {
            if let Some(reason) = session.reason.as_deref().filter(|r| !r.trim().is_empty()) {
                let _ = write!(
                    body,
                    "\n\n**{}** {}",
                    messages::STOPPED,
                    prose(&one_line_within(reason, REASON_CHARS))
                );
            }
        }
    }

    // A live preview is linked while the sandbox that serves it runs.
    if let (true, Some((port, url))) = (live, digest.preview) {
        let link = md(&Text::new().link(format!("port {port}"), url));
        let _ = write!(body, "\n\n**{}** {link}", messages::PREVIEW);
    }

    // While the session runs, its open command is shown above, not as a step.
    let steps: Vec<&Step> = digest
        .steps
        .iter()
        .enumerate()
        .filter(|(i, _)| !(live && digest.in_flight == Some(*i)))
        // The pull request has its own line: linked once in the comment.
        .filter(|(_, step)| !matches!(step, Step::Pr { .. }))
        .map(|(_, step)| step)
        .collect();
    if !steps.is_empty() {
        body.push_str("\n\n");
        let hidden = steps.len().saturating_sub(MAX_STEPS);
        if hidden > 0 {
            let _ = write!(body, "{}\n\n", md(&messages::earlier_steps(hidden)));
        }
        for step in &steps[hidden..] {
            let (done, text) = messages::step(step);
            let box_ = if done { "[x]" } else { "[ ]" };
            let _ = writeln!(body, "- {box_} {}", md(&text));
        }
        body.pop();
    }

    let footer = format!(
        "\n\n{}\n",
        md(&messages::session_link(session.id, view.session_url))
    );
    fit(body, &footer)
}

/// `body` then `footer`, the body cut so that the whole stays within [`MAX_CHARS`].
fn fit(mut body: String, footer: &str) -> String {
    let cut = format!("\n\n{}", messages::CUT_TO_FIT);
    let cut = cut.as_str();
    let footer_chars = footer.chars().count();
    if body.chars().count() + footer_chars > MAX_CHARS {
        let keep = MAX_CHARS.saturating_sub(footer_chars + cut.chars().count());
        body = body.chars().take(keep).collect();
        body.push_str(cut);
    }
    body.push_str(footer);
    if body.chars().count() > MAX_CHARS {
        body = body.chars().take(MAX_CHARS).collect();
    }
    body
}

#[cfg(test)]
mod tests {
    use super::super::markup::link_target;
    use super::*;
    use crate::core::words::{dollars, elapsed_words, thousands};
    use crate::core::{Author, DeliveryId, EventBody, RepoRef, ThreadRef, Trigger, Usage};

    const URL: &str = "https://lucid.example/sessions/abc";

    fn session(state: SessionState) -> Session {
        let trigger = Trigger {
            thread: ThreadRef::Github {
                repo: RepoRef::parse("acme/app").unwrap(),
                issue: 7,
            },
            author: Author {
                id: "ada".into(),
                display_name: "Ada".into(),
            },
            task: "fix the build".into(),
            title: None,
            repo: None,
            delivery: DeliveryId::parse("d1").unwrap(),
            agent: None,
        };
        let mut session = Session::new(trigger, Timestamp::from_millis(1_000_000));
        session.state = state;
        session
    }

    /// A log whose events are one second apart, from one second after the session
    /// was created.
    fn log(session: &Session, bodies: Vec<EventBody>) -> Vec<Event> {
        bodies
            .into_iter()
            .zip(1..)
            .map(|(body, seq)| Event {
                session: session.id,
                seq,
                at: Timestamp::from_millis(session.created_at.as_millis() + seq as i64 * 1_000),
                body,
            })
            .collect()
    }

    fn render_at(session: &Session, events: &[Event], seconds_after: i64) -> String {
        render(&ProgressView {
            session,
            events,
            now: Timestamp::from_millis(session.created_at.as_millis() + seconds_after * 1_000),
            session_url: URL,
        })
    }

    fn command(c: &str) -> EventBody {
        EventBody::Command { command: c.into() }
    }

    fn exit(code: i64) -> EventBody {
        EventBody::Output {
            text: "done\n".into(),
            exit_code: Some(code),
        }
    }

    fn thought(t: &str) -> EventBody {
        EventBody::Thought { text: t.into() }
    }

    fn first_line(body: &str) -> &str {
        body.lines().next().unwrap()
    }

    fn short_id(session: &Session) -> String {
        session.id.to_string()[..8].to_owned()
    }

    #[test]
    fn a_queued_session_shows_its_state_and_a_link_and_nothing_else() {
        let s = session(SessionState::Queued);
        let body = render_at(&s, &[], 3);
        assert_eq!(
            body,
            format!("⏳ **Queued** · 3s\n\n[Session {}]({URL})\n", short_id(&s))
        );
    }

    #[test]
    fn a_running_session_shows_its_command_in_flight_and_finished_steps() {
        let mut s = session(SessionState::Running);
        s.usage = Usage {
            tokens_in: 12_345,
            tokens_out: 678,
            cost_micros: 12_300,
        };
        let events = log(
            &s,
            vec![
                EventBody::Status {
                    state: SessionState::Running,
                    message: None,
                },
                thought("Let me look at the build first."),
                command("cargo build"),
                EventBody::Output {
                    text: "compiling…".into(),
                    exit_code: None,
                },
                exit(1),
                EventBody::FileEdit {
                    path: "src/lib.rs".into(),
                    diff:
                        "--- a/src/lib.rs\n+++ b/src/lib.rs\n@@ -1 +1 @@\n-fn a() {}\n+fn b() {}\n"
                            .into(),
                },
                thought("Now the tests."),
                command("cargo test"),
                EventBody::Output {
                    text: "running 3 tests".into(),
                    exit_code: None,
                },
            ],
        );
        let body = render_at(&s, &events, 125);
        assert_eq!(
            body,
            format!(
                "🛠️ **Working** · 2m 05s · \\$0.0123 (12,345 tokens in, 678 out)\n\
                 \n\
                 **Running now:** `cargo test`\n\
                 \n\
                 > **Latest note:** Now the tests.\n\
                 \n\
                 - [x] `cargo build` — exited 1\n\
                 - [x] edited `src/lib.rs` (+1 −1)\n\
                 \n\
                 [Session {}]({URL})\n",
                short_id(&s)
            )
        );
    }

    #[test]
    fn a_command_that_exited_zero_is_just_checked() {
        let s = session(SessionState::Running);
        let events = log(&s, vec![command("ls"), exit(0)]);
        let body = render_at(&s, &events, 10);
        assert!(body.contains("\n- [x] `ls`\n"), "{body}");
        assert!(!body.contains("Running now"), "{body}");
    }

    #[test]
    fn a_completed_session_shows_its_summary_pr_and_cost() {
        let mut s = session(SessionState::Completed);
        s.usage.cost_micros = 1_234_567;
        s.usage.tokens_in = 1_000;
        s.usage.tokens_out = 20;
        s.pr_url = Some("https://github.com/acme/app/pull/12".into());
        let events = log(
            &s,
            vec![
                command("cargo test"),
                exit(0),
                thought("I will open a PR."),
                EventBody::PrOpened {
                    url: "https://github.com/acme/app/pull/12".into(),
                    number: 12,
                },
                thought("Fixed the build: the `Vec<u8>` import was missing."),
                EventBody::Status {
                    state: SessionState::Completed,
                    message: None,
                },
            ],
        );
        // The clock stops at the last event, whatever `now` is.
        let body = render_at(&s, &events, 9_999);
        assert_eq!(
            first_line(&body),
            "✅ **Done** · 6s · \\$1.2346 (1,000 tokens in, 20 out)"
        );
        assert!(
            body.contains("\n> Fixed the build: the `Vec<u8>` import was missing.\n"),
            "{body}"
        );
        assert!(
            body.contains("**Pull request:** [#12](https://github.com/acme/app/pull/12)"),
            "{body}"
        );
        assert_eq!(
            body.matches("https://github.com/acme/app/pull/12").count(),
            1,
            "linked once: {body}"
        );
        assert!(!body.contains("Running now"), "{body}");
        assert!(!body.contains("Latest note"), "{body}");
    }

    #[test]
    fn a_completed_status_message_is_the_summary_before_the_last_thought() {
        let s = session(SessionState::Completed);
        let events = log(
            &s,
            vec![
                thought("thinking out loud"),
                EventBody::PrOpened {
                    url: "https://github.com/acme/app/pull/3".into(),
                    number: 3,
                },
                EventBody::Status {
                    state: SessionState::Completed,
                    message: Some("Opened a PR that fixes it.\n\nDetails:\n- one".into()),
                },
            ],
        );
        let body = render_at(&s, &events, 5);
        assert!(
            body.contains("> Opened a PR that fixes it.\n>\n> Details:\n> - one"),
            "{body}"
        );
        assert!(!body.contains("thinking out loud"), "{body}");
        // No `pr_url` on the session: the PR event gives the link.
        assert!(
            body.contains("**Pull request:** [#3](https://github.com/acme/app/pull/3)"),
            "{body}"
        );
    }

    #[test]
    fn a_failed_session_says_why() {
        let mut s = session(SessionState::Failed);
        s.reason = Some("the sandbox\ncould not start".into());
        let events = log(
            &s,
            vec![
                EventBody::Error {
                    message: "older error".into(),
                },
                command("make"),
            ],
        );
        let body = render_at(&s, &events, 60);
        assert!(
            first_line(&body).starts_with("❌ **Failed** · 2s"),
            "{body}"
        );
        assert!(
            body.contains("\n\n**Failed:** the sandbox could not start\n\n"),
            "{body}"
        );
        // A command the session never finished is not checked.
        assert!(body.contains("- [ ] `make` — did not finish"), "{body}");
    }

    #[test]
    fn a_failed_session_falls_back_to_its_last_error() {
        let s = session(SessionState::Failed);
        let events = log(
            &s,
            vec![EventBody::Error {
                message: "the model <refused>".into(),
            }],
        );
        let body = render_at(&s, &events, 60);
        assert!(
            body.contains("**Failed:** the model &lt;refused>"),
            "{body}"
        );
    }

    #[test]
    fn a_failed_session_without_any_reason_says_so() {
        let mut s = session(SessionState::Failed);
        s.reason = Some("  ".into());
        let body = render_at(&s, &[], 60);
        assert!(
            body.contains("**Failed:** no reason was recorded"),
            "{body}"
        );
    }

    #[test]
    fn a_cancelled_session_is_stopped_with_its_reason() {
        let mut s = session(SessionState::Cancelled);
        s.reason = Some("cancelled by @ada".into());
        let body = render_at(&s, &[], 60);
        assert!(
            first_line(&body).starts_with("⏹️ **Stopped** · 0s"),
            "{body}"
        );
        assert!(
            body.contains("**Stopped:** cancelled by @\u{200b}ada"),
            "{body}"
        );

        s.reason = None;
        let body = render_at(&s, &[], 60);
        assert!(!body.contains("**Stopped:**"), "{body}");
    }

    #[test]
    fn a_long_log_shows_its_last_thirty_steps_and_stays_under_the_limit() {
        let mut s = session(SessionState::Running);
        s.usage.cost_micros = 5;
        let huge = "x".repeat(5_000);
        let mut bodies = Vec::new();
        for i in 0..500 {
            if i % 2 == 0 {
                bodies.push(command(&format!("step-{i} {huge}")));
                bodies.push(exit(i % 3));
            } else {
                bodies.push(EventBody::FileEdit {
                    path: format!("src/{i}-{huge}.rs"),
                    diff: format!("+{huge}\n").repeat(20),
                });
            }
            bodies.push(thought(&huge));
            bodies.push(EventBody::UserMessage {
                author: "ada".into(),
                text: huge.clone(),
            });
        }
        let events = log(&s, bodies);
        let body = render_at(&s, &events, 100);
        assert!(body.chars().count() <= MAX_CHARS, "{}", body.len());
        // 500 steps and 500 messages: 1,000 in all, the last 30 shown.
        assert!(body.contains("\n\n… and 970 earlier steps\n\n"), "{body}");
        assert_eq!(body.matches("\n- [x] ").count(), 30, "{body}");
        assert!(!body.contains("step-468 "), "{body}");
        assert!(body.contains("`step-498 xxx"), "{body}");
        assert!(body.contains("(+20 −0)"), "{body}");
        assert!(body.contains("&lt;\\$0.0001"), "{body}");
        assert!(body.ends_with(&format!("[Session {}]({URL})\n", short_id(&s))));
        // Every line stays short: long text is shortened, not wrapped.
        assert!(body.lines().all(|l| l.chars().count() < 400), "{body}");
    }

    #[test]
    fn exactly_five_hundred_steps_leave_four_hundred_seventy_earlier() {
        let s = session(SessionState::Completed);
        let bodies = (0..500)
            .flat_map(|i| [command(&format!("echo {i}")), exit(0)])
            .collect();
        let events = log(&s, bodies);
        let body = render_at(&s, &events, 0);
        assert!(body.contains("… and 470 earlier steps"), "{body}");
        assert!(body.contains("- [x] `echo 470`\n"), "{body}");
        assert!(!body.contains("`echo 469`"), "{body}");
    }

    #[test]
    fn the_body_is_cut_to_the_limit_whatever_the_url() {
        let s = session(SessionState::Queued);
        let url = "https://lucid.example/".to_owned() + &"a".repeat(100_000);
        let body = render(&ProgressView {
            session: &s,
            events: &[],
            now: s.created_at,
            session_url: &url,
        });
        assert!(body.chars().count() <= MAX_CHARS);
    }

    #[test]
    fn commands_with_backticks_get_a_longer_fence() {
        assert_eq!(code("ls"), "`ls`");
        assert_eq!(code("echo `date`"), "`` echo `date` ``");
        assert_eq!(code("a ``b`` c"), "``` a ``b`` c ```");
        let s = session(SessionState::Running);
        let events = log(&s, vec![command("echo `date`\necho\tok"), exit(0)]);
        let body = render_at(&s, &events, 1);
        assert!(body.contains("- [x] `` echo `date` echo ok ``"), "{body}");
    }

    #[test]
    fn user_messages_are_one_line_and_shortened() {
        let s = session(SessionState::Running);
        let text = format!("@bob also fix\nthe docs {}", "y".repeat(500));
        let events = log(
            &s,
            vec![EventBody::UserMessage {
                author: "ada".into(),
                text,
            }],
        );
        let body = render_at(&s, &events, 1);
        let line = body
            .lines()
            .find(|l| l.starts_with("- [x] ada said: @\u{200b}bob also fix the docs yyy"))
            .unwrap();
        assert!(line.ends_with('…'), "{line}");
        // The zero-width space disarming the mention is one more character.
        assert_eq!(
            line.chars().count(),
            "- [x] ada said: ".len() + MESSAGE_CHARS + 1
        );
    }

    #[test]
    fn the_latest_note_is_shortened_and_cannot_open_html() {
        let s = session(SessionState::Running);
        let events = log(&s, vec![thought(&format!("<!-- {}", "z".repeat(1_000)))]);
        let body = render_at(&s, &events, 1);
        let note = body
            .lines()
            .find(|l| l.starts_with("> **Latest note:** &lt;!-- zzz"))
            .unwrap();
        assert!(note.chars().count() < NOTE_CHARS + 30, "{note}");
    }

    #[test]
    fn elapsed_time_reads_naturally() {
        assert_eq!(elapsed_words(0), "0s");
        assert_eq!(elapsed_words(59), "59s");
        assert_eq!(elapsed_words(60), "1m 00s");
        assert_eq!(elapsed_words(125), "2m 05s");
        assert_eq!(elapsed_words(3_599), "59m 59s");
        assert_eq!(elapsed_words(3_720), "1h 02m");
        assert_eq!(elapsed_words(26 * 3_600), "26h 00m");

        // A clock that reads before the session began shows no time, not a panic.
        let s = session(SessionState::Running);
        assert!(first_line(&render_at(&s, &[], -5)).ends_with("· 0s"));
    }

    #[test]
    fn money_and_counts_read_naturally() {
        assert_eq!(dollars(0), "$0.0000");
        assert_eq!(dollars(12_300), "$0.0123");
        assert_eq!(dollars(12_349), "$0.0123");
        assert_eq!(dollars(12_350), "$0.0124");
        assert_eq!(dollars(49), "<$0.0001");
        assert_eq!(dollars(12_000_000), "$12.0000");
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn usage_comes_from_the_log_when_the_session_has_none() {
        let s = session(SessionState::Running);
        let events = log(
            &s,
            vec![EventBody::usage(Usage {
                tokens_in: 10,
                tokens_out: 2,
                cost_micros: 0,
            })],
        );
        assert_eq!(
            first_line(&render_at(&s, &events, 1)),
            "🛠️ **Working** · 1s · \\$0.0000 (10 tokens in, 2 out)"
        );
    }

    #[test]
    fn prose_escapes_html_outside_code_spans_only() {
        assert_eq!(prose("a <b> `Vec<T>` c"), "a &lt;b> `Vec<T>` c");
        assert_eq!(prose("``x ` <y>`` <z>"), "``x ` <y>`` &lt;z>");
        assert_eq!(prose("unclosed ` <b>"), "unclosed ` &lt;b>");
        assert_eq!(prose("R&D"), "R&amp;D");
    }

    #[test]
    fn links_cannot_break_out_of_their_parentheses() {
        assert_eq!(
            link_target("https://x.test/a b(c)"),
            "https://x.test/a%20b%28c%29"
        );
    }
}
