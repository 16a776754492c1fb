//! The words of a change request lucid opens: a title the agent wrote, and a body a
//! reviewer wants to read (what changed and why, the files, the last test, the cost,
//! who asked and where, the session). Written in the Markdown forges render.

use super::text::{one_line, one_line_within};
use crate::core::words::{dollars, thousands};

/// A file the change touches, with its line counts (none for a binary file).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileLines {
    pub path: String,
    pub added: Option<u64>,
    pub removed: Option<u64>,
}

/// The last test the agent ran: its command line, and its exit code when it ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestRun {
    pub command: String,
    pub exit_code: Option<i64>,
}

/// Everything a change request's body says.
pub struct ChangeRequestWords<'a> {
    /// The agent's summary: its first line is the title, the rest says why.
    pub summary: &'a str,
    pub files: &'a [FileLines],
    pub last_test: Option<&'a TestRun>,
    pub cost_micros: u64,
    /// The issue the change closes, where the forge has one.
    pub fixes: Option<u64>,
    /// Who asked, as the forge shows them (`@login`) or by name.
    pub asker: &'a str,
    /// Where they asked (`Slack`), and the link back to that conversation.
    pub asked_on: &'a str,
    pub conversation_url: Option<&'a str>,
    pub session_url: &'a str,
    /// Why the work is unfinished, when it ended on a budget (the request is a draft).
    pub unfinished: Option<&'a str>,
}

/// Files listed in a body before the rest are counted.
const FILES_LISTED: usize = 50;
/// The longest a title is, as git's and forges' conventions keep subjects.
const TITLE_CHARS: usize = 72;

/// The title: the summary's first line, as the agent wrote it (an imperative, short),
/// without a closing period; `fallback` when the summary is empty.
pub fn change_request_title(summary: &str, fallback: &str) -> String {
    let first = summary
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or(fallback);
    let first = first.trim_start_matches('#').trim().trim_end_matches('.');
    let title = if first.is_empty() {
        "lucid's changes"
    } else {
        first
    };
    one_line_within(title, TITLE_CHARS)
}

/// The body.
pub fn change_request_body(w: &ChangeRequestWords) -> String {
    let mut out = Vec::new();
    if let Some(why) = w.unfinished {
        out.push(format!(
            "> [!WARNING]\n> A draft: the session ended before the work was done ({why}). \
             Review it with care, or ask lucid to carry on."
        ));
    }
    // The title line is the title; the rest says why. A summary that is only a
    // title is said whole.
    let mut lines = w.summary.trim().lines();
    let title = lines.next().unwrap_or_default();
    let why = lines.collect::<Vec<_>>().join("\n");
    let why = if why.trim().is_empty() {
        title
    } else {
        why.trim()
    };
    if !why.trim().is_empty() {
        out.push(why.trim().to_owned());
    }
    out.push(files_section(w.files));
    out.push(test_line(w.last_test));
    out.push(format!("**Cost:** {}", dollars(w.cost_micros)));
    if let Some(issue) = w.fixes {
        out.push(format!("Fixes #{issue}"));
    }
    let asked = match w.conversation_url {
        Some(url) => format!("Asked by {} in [{}]({url})", w.asker, w.asked_on),
        None => format!("Asked by {} in {}", w.asker, w.asked_on),
    };
    out.push(format!(
        "---\n{asked} · [the lucid session]({})",
        w.session_url
    ));
    out.join("\n\n")
}

fn files_section(files: &[FileLines]) -> String {
    let noun = if files.len() == 1 { "file" } else { "files" };
    let mut out = format!("**{} {noun} changed**", thousands(files.len() as u64));
    for file in files.iter().take(FILES_LISTED) {
        let counts = match (file.added, file.removed) {
            (Some(added), Some(removed)) => format!("+{added} −{removed}"),
            _ => "binary".to_owned(),
        };
        out.push_str(&format!(
            "\n- {} ({counts})",
            code_span(&one_line(&file.path))
        ));
    }
    if files.len() > FILES_LISTED {
        out.push_str(&format!(
            "\n- … and {} more",
            thousands((files.len() - FILES_LISTED) as u64)
        ));
    }
    out
}

fn test_line(test: Option<&TestRun>) -> String {
    let Some(test) = test else {
        return "**Last test:** none was run".to_owned();
    };
    let command = one_line_within(&test.command, 200);
    let outcome = match test.exit_code {
        Some(0) => "passed".to_owned(),
        Some(code) => format!("failed (exit {code})"),
        None => "did not finish".to_owned(),
    };
    format!("**Last test:** {} {outcome}", code_span(&command))
}

/// One line as inline code, whatever it holds: the fence is longer than any run of
/// backticks in it (padded with spaces when it has any), so nothing in it can end the
/// span and be read as Markdown or HTML.
fn code_span(line: &str) -> String {
    let longest = line
        .split(|c| c != '`')
        .map(str::len)
        .max()
        .unwrap_or_default();
    if longest == 0 {
        return format!("`{line}`");
    }
    let fence = "`".repeat(longest + 1);
    format!("{fence} {line} {fence}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files() -> Vec<FileLines> {
        vec![
            FileLines {
                path: "calc.py".into(),
                added: Some(1),
                removed: Some(1),
            },
            FileLines {
                path: "logo.png".into(),
                added: None,
                removed: None,
            },
        ]
    }

    #[test]
    fn a_change_request_reads_as_a_reviewer_wants() {
        let test = TestRun {
            command: "python3 test_calc.py".into(),
            exit_code: Some(0),
        };
        let files = files();
        let from_slack = ChangeRequestWords {
            summary: "Make add() add.\n\nIt subtracted; the test now passes.",
            files: &files,
            last_test: Some(&test),
            cost_micros: 12_300,
            fixes: None,
            asker: "Ada Lovelace",
            asked_on: "Slack",
            conversation_url: Some("https://acme.slack.com/archives/C1/p1700000000000100"),
            session_url: "https://lucid.example/sessions/s1?share=t",
            unfinished: None,
        };
        let failed = TestRun {
            command: "make `check`".into(),
            exit_code: Some(2),
        };
        let on_github = ChangeRequestWords {
            summary: "Fix add()",
            last_test: Some(&failed),
            fixes: Some(7),
            asker: "@ada",
            asked_on: "GitHub",
            conversation_url: Some("https://github.com/acme/app/issues/7#issuecomment-9"),
            unfinished: Some("the cost budget ($2.50) was reached"),
            ..from_slack
        };
        let no_test = ChangeRequestWords {
            last_test: None,
            conversation_url: None,
            asked_on: "Discord",
            ..from_slack
        };
        insta::assert_snapshot!(
            [
                change_request_title(from_slack.summary, "fix it"),
                change_request_body(&from_slack),
                change_request_title(on_github.summary, "fix it"),
                change_request_body(&on_github),
                change_request_body(&no_test),
            ]
            .join("\n\n=====\n\n")
        );
    }

    #[test]
    fn a_title_is_the_summarys_first_line_short_and_never_empty() {
        assert_eq!(
            change_request_title("\n# Make add() add.\nmore", "x"),
            "Make add() add"
        );
        assert_eq!(
            change_request_title("", "fix the flaky test"),
            "fix the flaky test"
        );
        assert_eq!(change_request_title("  ", ""), "lucid's changes");
        let long = change_request_title(&"word ".repeat(40), "x");
        assert!(long.chars().count() <= TITLE_CHARS, "{long}");
    }

    #[test]
    fn many_files_are_counted_past_fifty() {
        let many: Vec<FileLines> = (0..60)
            .map(|i| FileLines {
                path: format!("f{i}.txt"),
                added: Some(1),
                removed: Some(0),
            })
            .collect();
        let section = files_section(&many);
        assert!(section.starts_with("**60 files changed**"));
        assert_eq!(section.matches("\n- `").count(), FILES_LISTED);
        assert!(section.ends_with("- … and 10 more"));
    }

    #[test]
    fn a_path_or_command_cannot_end_its_code_span() {
        let sneaky = [FileLines {
            path: "x`<img src=http://evil.example/p.png>`y".into(),
            added: Some(1),
            removed: Some(0),
        }];
        assert_eq!(
            files_section(&sneaky),
            "**1 file changed**\n- `` x`<img src=http://evil.example/p.png>`y `` (+1 −0)"
        );
        let test = TestRun {
            command: "a `` b".into(),
            exit_code: Some(0),
        };
        assert_eq!(
            test_line(Some(&test)),
            "**Last test:** ``` a `` b ``` passed"
        );
    }
}
