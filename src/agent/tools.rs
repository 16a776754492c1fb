//! The agent's tools, run in the session's sandbox: run a command, read, write and
//! edit files, find files, search text, finish. A tool's failure goes back to the
//! model as text it can act on; it never ends the session.

use super::{AgentError, StepLog};
use crate::agent::llm::{ToolCall, ToolSpec};
use crate::core::EventBody;
use crate::sandbox::{CommandSpec, Outcome, Sandbox, SandboxError};
use serde::Deserialize;
use serde_json::{Value, json};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// What a tool call came to. Its events are already in the log.
pub enum ToolResult {
    /// Text for the model.
    Done { for_model: String },
    /// The agent says the task is done.
    Finish { summary: String },
}

#[derive(Clone, Debug)]
pub struct ToolLimits {
    pub command_timeout: Duration,
    /// Output kept per command for the model (head and tail).
    pub output_cap: usize,
}

pub fn specs() -> Vec<ToolSpec> {
    let tool = |name: &str, description: &str, parameters: Value| ToolSpec {
        name: name.to_owned(),
        description: description.to_owned(),
        parameters,
    };
    let string = |description: &str| json!({"type": "string", "description": description});
    vec![
        tool(
            "run",
            "Run a bash command in /workspace. Output is cut to its head and tail when long.",
            json!({"type": "object", "properties": {"command": string("the command line")}, "required": ["command"]}),
        ),
        tool(
            "read_file",
            "Read a file, optionally only lines start..=end (1-based).",
            json!({"type": "object", "properties": {
                "path": string("path, relative to /workspace or absolute"),
                "start": {"type": "integer"}, "end": {"type": "integer"}},
                "required": ["path"]}),
        ),
        tool(
            "write_file",
            "Create or overwrite a file with the given content.",
            json!({"type": "object", "properties": {"path": string("path"), "content": string("the whole new content")},
                   "required": ["path", "content"]}),
        ),
        tool(
            "edit_file",
            "Replace old_text with new_text in a file. old_text must appear exactly once: include enough surrounding lines.",
            json!({"type": "object", "properties": {"path": string("path"), "old_text": string("exact text to replace"),
                   "new_text": string("replacement")}, "required": ["path", "old_text", "new_text"]}),
        ),
        tool(
            "find_files",
            "List files whose name matches a glob (e.g. '*.rs'), under a directory.",
            json!({"type": "object", "properties": {"pattern": string("glob"), "dir": string("directory, default /workspace")},
                   "required": ["pattern"]}),
        ),
        tool(
            "search_text",
            "Search file contents for a regular expression (grep -E), under a directory.",
            json!({"type": "object", "properties": {"pattern": string("regular expression"), "dir": string("directory, default /workspace")},
                   "required": ["pattern"]}),
        ),
        tool(
            "preview",
            "Publish a port a server you started in the sandbox listens on (0.0.0.0), so the people in the thread can open it in their browser while the sandbox runs.",
            json!({"type": "object", "properties": {"port": {"type": "integer", "minimum": 1, "maximum": 65535}}, "required": ["port"]}),
        ),
        tool(
            "finish",
            "Say the task is done. The summary's first line is the pull request's title: a short imperative (\"Fix add() for negative numbers\", at most 72 characters); then what changed and why, for a reviewer.",
            json!({"type": "object", "properties": {"summary": string("title line, then what changed and why")}, "required": ["summary"]}),
        ),
    ]
}

/// Everything a tool needs.
pub struct Workbench<'a> {
    pub sandbox: &'a dyn Sandbox,
    pub limits: &'a ToolLimits,
    pub cancel: &'a CancellationToken,
    pub log: StepLog<'a>,
}

/// Runs one tool call, logging its steps as they happen.
pub async fn call(bench: &Workbench<'_>, call: &ToolCall) -> Result<ToolResult, AgentError> {
    let args: Value = match serde_json::from_str(&call.arguments) {
        Ok(args) => args,
        Err(e) => {
            return Ok(refused(format!(
                "the arguments are not valid JSON ({e}); send a JSON object"
            )));
        }
    };
    match call.name.as_str() {
        "run" => with_args(args, |a: RunArgs| run(bench, a.command)).await,
        "read_file" => with_args(args, |a: ReadArgs| read(bench.sandbox, a)).await,
        "write_file" => with_args(args, |a: WriteArgs| write(bench, a)).await,
        "edit_file" => with_args(args, |a: EditArgs| edit(bench, a)).await,
        "find_files" => {
            with_args(args, |a: SearchArgs| {
                let command = format!(
                    "find {} -name {} -not -path '*/.git/*' | sort | head -n 200",
                    quote(&a.dir()),
                    quote(&a.pattern)
                );
                search(bench, command)
            })
            .await
        }
        "search_text" => {
            with_args(args, |a: SearchArgs| {
                let command = format!(
                    "grep -rnE --exclude-dir=.git -e {} {} | head -n 200",
                    quote(&a.pattern),
                    quote(&a.dir())
                );
                search(bench, command)
            })
            .await
        }
        "preview" => with_args(args, |a: PreviewArgs| preview(bench, a.port)).await,
        "finish" => match serde_json::from_value::<FinishArgs>(args) {
            Ok(a) => Ok(ToolResult::Finish { summary: a.summary }),
            Err(e) => Ok(refused(format!("bad arguments: {e}"))),
        },
        other => Ok(refused(format!(
            "there is no tool {other:?}; the tools are run, read_file, write_file, edit_file, find_files, search_text, preview, finish"
        ))),
    }
}

async fn with_args<
    A: for<'de> Deserialize<'de>,
    F: Future<Output = Result<ToolResult, AgentError>>,
>(
    args: Value,
    tool: impl FnOnce(A) -> F,
) -> Result<ToolResult, AgentError> {
    match serde_json::from_value::<A>(args) {
        Ok(args) => tool(args).await,
        Err(e) => Ok(refused(format!("bad arguments: {e}"))),
    }
}

fn refused(message: String) -> ToolResult {
    ToolResult::Done {
        for_model: format!("error: {message}"),
    }
}

fn quote(s: &str) -> String {
    shlex::try_quote(s).map_or_else(|_| "''".to_owned(), |q| q.into_owned())
}

/// Paths are relative to /workspace unless absolute.
fn in_workspace(path: &str) -> String {
    if path.starts_with('/') {
        path.to_owned()
    } else {
        format!("/workspace/{path}")
    }
}

#[derive(Deserialize)]
struct RunArgs {
    command: String,
}

#[derive(Deserialize)]
struct ReadArgs {
    path: String,
    start: Option<usize>,
    end: Option<usize>,
}

#[derive(Deserialize)]
struct WriteArgs {
    path: String,
    content: String,
}

#[derive(Deserialize)]
struct EditArgs {
    path: String,
    old_text: String,
    new_text: String,
}

#[derive(Deserialize)]
struct SearchArgs {
    pattern: String,
    dir: Option<String>,
}

impl SearchArgs {
    fn dir(&self) -> String {
        in_workspace(self.dir.as_deref().unwrap_or("."))
    }
}

#[derive(Deserialize)]
struct FinishArgs {
    summary: String,
}

#[derive(Deserialize)]
struct PreviewArgs {
    port: u16,
}

/// Asks lucid to publish `port`: lucid opens it (or says why not) in the log, and
/// people get the link in the thread.
async fn preview(bench: &Workbench<'_>, port: u16) -> Result<ToolResult, AgentError> {
    if port == 0 {
        return Ok(refused("port 0 is no port".to_owned()));
    }
    bench
        .log
        .log(EventBody::PreviewAsked {
            author: "the agent".to_owned(),
            port,
        })
        .await?;
    Ok(ToolResult::Done {
        for_model: format!(
            "asked lucid to publish port {port}; the people in the thread get its link"
        ),
    })
}

/// Runs a command: logged before it starts (so everyone sees what runs now) and its
/// output after.
async fn run(bench: &Workbench<'_>, command: String) -> Result<ToolResult, AgentError> {
    bench
        .log
        .log(EventBody::Command {
            command: command.clone(),
        })
        .await?;
    let (for_model, text, exit_code) = execute(bench, &command).await?;
    bench.log.log(EventBody::Output { text, exit_code }).await?;
    Ok(ToolResult::Done { for_model })
}

/// A helper search: its output goes to the model, not the log.
async fn search(bench: &Workbench<'_>, command: String) -> Result<ToolResult, AgentError> {
    let (for_model, _, _) = execute(bench, &command).await?;
    Ok(ToolResult::Done { for_model })
}

/// The command's text for the model, its output, and its exit code if it exited.
async fn execute(
    bench: &Workbench<'_>,
    command: &str,
) -> Result<(String, String, Option<i64>), SandboxError> {
    let spec = CommandSpec::new(command)
        .timeout(bench.limits.command_timeout)
        .output_cap(bench.limits.output_cap);
    let result = bench.sandbox.run(&spec, None, bench.cancel).await?;
    let (exit_code, ending) = match &result.outcome {
        Outcome::Exited(code) => (Some(*code), format!("exit code {code}")),
        Outcome::TimedOut(after) => (None, format!("killed after {}s (timeout)", after.as_secs())),
        Outcome::OutOfMemory => (None, "killed: out of memory".to_owned()),
        Outcome::NoOutputFor(after) => (
            None,
            format!("killed after {}s without output", after.as_secs()),
        ),
        Outcome::Cancelled => (None, "stopped".to_owned()),
    };
    let text = result.output.text;
    Ok((format!("{text}\n[{ending}]"), text, exit_code))
}

async fn read(sandbox: &dyn Sandbox, a: ReadArgs) -> Result<ToolResult, AgentError> {
    let text = match read_text(sandbox, &a.path).await? {
        Ok(text) => text,
        Err(message) => return Ok(refused(message)),
    };
    let shown = match (a.start, a.end) {
        (None, None) => text,
        (start, end) => {
            let start = start.unwrap_or(1).max(1);
            let end = end.unwrap_or(usize::MAX);
            text.lines()
                .enumerate()
                .filter(|(i, _)| (start..=end).contains(&(i + 1)))
                .map(|(i, line)| format!("{:>5} {line}\n", i + 1))
                .collect()
        }
    };
    Ok(ToolResult::Done { for_model: shown })
}

/// The file as text, or a message for the model.
async fn read_text(
    sandbox: &dyn Sandbox,
    path: &str,
) -> Result<Result<String, String>, SandboxError> {
    match sandbox.read_file(&in_workspace(path)).await {
        Ok(bytes) => Ok(String::from_utf8(bytes).map_err(|_| format!("{path} is not text"))),
        Err(SandboxError::File { path, message }) => Ok(Err(format!("{path}: {message}"))),
        Err(other) => Err(other),
    }
}

async fn write(bench: &Workbench<'_>, a: WriteArgs) -> Result<ToolResult, AgentError> {
    let before = read_text(bench.sandbox, &a.path).await?.unwrap_or_default();
    save(bench, &a.path, &before, &a.content).await
}

async fn edit(bench: &Workbench<'_>, a: EditArgs) -> Result<ToolResult, AgentError> {
    let before = match read_text(bench.sandbox, &a.path).await? {
        Ok(text) => text,
        Err(message) => return Ok(refused(message)),
    };
    let after = match replace_once(&before, &a.old_text, &a.new_text) {
        Ok(after) => after,
        Err(message) => return Ok(refused(format!("{}: {message}", a.path))),
    };
    save(bench, &a.path, &before, &after).await
}

/// Writes the file and logs the change as a diff computed on the host.
async fn save(
    bench: &Workbench<'_>,
    path: &str,
    before: &str,
    after: &str,
) -> Result<ToolResult, AgentError> {
    match bench
        .sandbox
        .write_file(&in_workspace(path), after.as_bytes())
        .await
    {
        Ok(()) => {}
        Err(SandboxError::File { path, message }) => {
            return Ok(refused(format!("{path}: {message}")));
        }
        Err(other) => return Err(other.into()),
    }
    // With checkpoints the step's diff comes from them, once, whatever made it.
    if !bench.log.checkpointed() {
        let diff = unified_diff(path, before, after);
        bench
            .log
            .log(EventBody::FileEdit {
                path: path.to_owned(),
                diff,
            })
            .await?;
    }
    Ok(ToolResult::Done {
        for_model: format!("saved {path}"),
    })
}

/// `old` must appear exactly once, so an edit never lands somewhere unintended.
pub fn replace_once(text: &str, old: &str, new: &str) -> Result<String, String> {
    if old.is_empty() {
        return Err("old_text is empty".to_owned());
    }
    match text.matches(old).count() {
        1 => Ok(text.replacen(old, new, 1)),
        0 => Err("old_text was not found; read the file and copy the text exactly".to_owned()),
        n => Err(format!(
            "old_text matches {n} times; include more surrounding lines so it matches once"
        )),
    }
}

/// The change as a unified diff, computed on the host.
pub fn unified_diff(path: &str, before: &str, after: &str) -> String {
    similar::TextDiff::from_lines(before, after)
        .unified_diff()
        .context_radius(3)
        .header(&format!("a/{path}"), &format!("b/{path}"))
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_edit_must_match_exactly_once() {
        assert_eq!(replace_once("a b c", "b", "x").unwrap(), "a x c");
        assert!(
            replace_once("a b b", "b", "x")
                .unwrap_err()
                .contains("matches 2 times")
        );
        assert!(
            replace_once("a", "z", "x")
                .unwrap_err()
                .contains("not found")
        );
        assert!(replace_once("a", "", "x").is_err());
    }

    #[test]
    fn diffs_are_unified_with_paths() {
        let diff = unified_diff(
            "src/calc.py",
            "def add(a, b):\n    return a - b\n",
            "def add(a, b):\n    return a + b\n",
        );
        assert!(
            diff.starts_with("--- a/src/calc.py\n+++ b/src/calc.py\n"),
            "{diff}"
        );
        assert!(
            diff.contains("-    return a - b\n+    return a + b\n"),
            "{diff}"
        );
    }

    #[test]
    fn every_tool_has_an_object_schema() {
        let specs = specs();
        assert_eq!(specs.len(), 8);
        assert!(specs.iter().all(|s| s.parameters["type"] == "object"));
    }
}
