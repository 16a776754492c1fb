//! An ACP agent's updates as lucid's events: its words (message and thought chunks)
//! joined into thoughts, its tool calls merged by id into commands with their output,
//! or changes to files, its plans. Kinds lucid has no use for are passed over.

use crate::agent::StepLog;
use crate::core::EventBody;
use crate::store::StoreError;
use agent_client_protocol::v1::schema::{
    ContentBlock, Plan, SessionUpdate, ToolCall, ToolCallContent, ToolCallStatus, ToolCallUpdate,
    ToolKind,
};
use std::collections::HashMap;

/// Where the agent works, which its paths start with.
const WORKSPACE: &str = "/workspace/";

/// One tool call as known so far.
#[derive(Debug, Default)]
struct Call {
    kind: ToolKind,
    title: String,
    raw_input: Option<serde_json::Value>,
    raw_output: Option<serde_json::Value>,
    content: Vec<ToolCallContent>,
    /// Whether its command is in the log already.
    command_logged: bool,
}

/// The state of one run's updates.
pub struct Steps<'a> {
    log: StepLog<'a>,
    /// Words not yet logged: the agent's message and thought chunks since its last
    /// other update.
    words: String,
    /// Whether `words` holds the agent's message (not only its thoughts).
    saying: bool,
    /// The agent's last message: the summary of a turn that ends.
    last_message: String,
    calls: HashMap<String, Call>,
    /// The plan last logged, to log a plan only when its entries change.
    plan: Vec<String>,
}

impl<'a> Steps<'a> {
    pub fn new(log: StepLog<'a>) -> Self {
        Steps {
            log,
            words: String::new(),
            saying: false,
            last_message: String::new(),
            calls: HashMap::new(),
            plan: Vec::new(),
        }
    }

    /// What a permission request is about, in words (the command it runs, else its
    /// title), and the kind of tool, from the request and the call as known so far.
    pub fn describe(&self, update: &ToolCallUpdate) -> (String, Option<String>) {
        let known = self.calls.get(update.tool_call_id.0.as_ref());
        let fields = &update.fields;
        let call = Call {
            kind: fields.kind.or(known.map(|c| c.kind)).unwrap_or_default(),
            title: fields
                .title
                .clone()
                .or(known.map(|c| c.title.clone()))
                .unwrap_or_default(),
            raw_input: fields
                .raw_input
                .clone()
                .or(known.and_then(|c| c.raw_input.clone())),
            ..Call::default()
        };
        let what = command_of(&call);
        let kind = serde_json::to_value(call.kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned));
        let what = if what.trim().is_empty() {
            update.tool_call_id.0.to_string()
        } else {
            what
        };
        (what, kind)
    }

    /// The agent's last message, once its words are logged.
    pub async fn last_message(&mut self) -> Result<String, StoreError> {
        self.flush().await?;
        Ok(self.last_message.clone())
    }

    pub async fn take(&mut self, update: SessionUpdate) -> Result<(), StoreError> {
        match update {
            SessionUpdate::AgentMessageChunk(chunk) => {
                if !self.saying {
                    // A new message: what came before it was thinking.
                    self.flush().await?;
                    self.saying = true;
                }
                push_text(&mut self.words, &chunk.content);
            }
            SessionUpdate::AgentThoughtChunk(chunk) => {
                if self.saying {
                    self.flush().await?;
                }
                push_text(&mut self.words, &chunk.content);
            }
            SessionUpdate::ToolCall(call) => {
                self.flush().await?;
                self.called(call).await?;
            }
            SessionUpdate::ToolCallUpdate(update) => {
                self.flush().await?;
                self.updated(update).await?;
            }
            SessionUpdate::Plan(plan) => {
                self.flush().await?;
                self.planned(plan).await?;
            }
            // The prompt echoed, commands, modes, titles, usage (counted at the
            // gateway), notices: nothing for the log.
            _ => {}
        }
        Ok(())
    }

    /// Whether words wait to be logged.
    pub fn has_words(&self) -> bool {
        !self.words.is_empty()
    }

    /// The words so far, as one thought.
    pub async fn flush(&mut self) -> Result<(), StoreError> {
        let words = std::mem::take(&mut self.words);
        let saying = std::mem::replace(&mut self.saying, false);
        if words.trim().is_empty() {
            return Ok(());
        }
        if saying {
            self.last_message = words.trim().to_owned();
        }
        self.log
            .log(EventBody::Thought {
                text: words.trim().to_owned(),
            })
            .await
    }

    async fn called(&mut self, call: ToolCall) -> Result<(), StoreError> {
        let id = call.tool_call_id.0.to_string();
        let status = call.status;
        let entry = Call {
            kind: call.kind,
            title: call.title,
            raw_input: call.raw_input,
            raw_output: call.raw_output,
            content: call.content,
            command_logged: false,
        };
        self.calls.insert(id.clone(), entry);
        self.progress(&id, status).await
    }

    async fn updated(&mut self, update: ToolCallUpdate) -> Result<(), StoreError> {
        let id = update.tool_call_id.0.to_string();
        let fields = update.fields;
        // An update for a call never announced starts it (agents may skip the call).
        let call = self.calls.entry(id.clone()).or_default();
        if let Some(kind) = fields.kind {
            call.kind = kind;
        }
        if let Some(title) = fields.title {
            call.title = title;
        }
        if fields.raw_input.is_some() {
            call.raw_input = fields.raw_input;
        }
        if fields.raw_output.is_some() {
            call.raw_output = fields.raw_output;
        }
        if let Some(content) = fields.content {
            call.content = content;
        }
        self.progress(&id, fields.status.unwrap_or(ToolCallStatus::InProgress))
            .await
    }

    /// Logs what is new about a call: its command once known, and its end.
    async fn progress(&mut self, id: &str, status: ToolCallStatus) -> Result<(), StoreError> {
        let Some(call) = self.calls.get_mut(id) else {
            return Ok(());
        };
        if call.kind == ToolKind::Execute && !call.command_logged {
            call.command_logged = true;
            let command = command_of(call);
            self.log.log(EventBody::Command { command }).await?;
        }
        if matches!(status, ToolCallStatus::Completed | ToolCallStatus::Failed)
            && let Some(call) = self.calls.remove(id)
        {
            self.ended(call, status).await?;
        }
        Ok(())
    }

    async fn ended(&mut self, call: Call, status: ToolCallStatus) -> Result<(), StoreError> {
        if call.kind == ToolKind::Execute {
            let exit_code = exit_code(call.raw_output.as_ref()).or(match status {
                ToolCallStatus::Completed => Some(0),
                _ => None,
            });
            let text = output_of(&call);
            self.log.log(EventBody::Output { text, exit_code }).await?;
        }
        if self.log.checkpointed() {
            // Whatever the call changed reaches the log from the work tree itself.
            return self.log.after_step(&label_of(&call)).await;
        }
        for content in &call.content {
            if let ToolCallContent::Diff(diff) = content {
                let path = relative(&diff.path.to_string_lossy());
                let before = diff.old_text.as_deref().unwrap_or_default();
                let diff = crate::agent::tools::unified_diff(&path, before, &diff.new_text);
                self.log.log(EventBody::FileEdit { path, diff }).await?;
            }
        }
        Ok(())
    }

    async fn planned(&mut self, plan: Plan) -> Result<(), StoreError> {
        let entries: Vec<String> = plan.entries.into_iter().map(|e| e.content).collect();
        if entries.is_empty() || entries == self.plan {
            return Ok(());
        }
        self.plan = entries;
        let text = crate::messages::agent_plan(&self.plan);
        self.log.log(EventBody::Thought { text }).await
    }
}

fn push_text(words: &mut String, content: &ContentBlock) {
    if let ContentBlock::Text(text) = content {
        words.push_str(&text.text);
    }
}

/// The command a call runs: its input's `command` when it gives one (a string or an
/// argument list), else its title.
fn command_of(call: &Call) -> String {
    let input = call.raw_input.as_ref();
    let command = input.and_then(|i| i.get("command")).and_then(|c| match c {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Array(parts) => Some(
            parts
                .iter()
                .filter_map(serde_json::Value::as_str)
                .collect::<Vec<_>>()
                .join(" "),
        ),
        _ => None,
    });
    command
        .filter(|c| !c.trim().is_empty())
        .unwrap_or_else(|| call.title.clone())
}

/// The exit code a call's raw output gives, by the names agents use.
fn exit_code(raw_output: Option<&serde_json::Value>) -> Option<i64> {
    let output = raw_output?;
    ["exit_code", "exitCode", "code"]
        .iter()
        .find_map(|name| output.get(name)?.as_i64())
}

/// A call's output: its text content, else its raw output's text.
fn output_of(call: &Call) -> String {
    let text: Vec<&str> = call
        .content
        .iter()
        .filter_map(|content| match content {
            ToolCallContent::Content(content) => match &content.content {
                ContentBlock::Text(text) => Some(text.text.as_str()),
                _ => None,
            },
            _ => None,
        })
        .collect();
    if !text.is_empty() {
        return text.join("\n");
    }
    let raw = call.raw_output.as_ref();
    ["output", "stdout", "formatted_output"]
        .iter()
        .find_map(|name| raw?.get(name)?.as_str())
        .unwrap_or_default()
        .to_owned()
}

/// What a checkpoint after the call is labelled: the call's title, else its kind.
fn label_of(call: &Call) -> String {
    if call.title.trim().is_empty() {
        format!("{:?}", call.kind).to_lowercase()
    } else {
        call.title.clone()
    }
}

/// A path in the workspace, as the repository knows it.
fn relative(path: &str) -> String {
    path.strip_prefix(WORKSPACE).unwrap_or(path).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn call(input: serde_json::Value) -> Call {
        Call {
            kind: ToolKind::Execute,
            title: "Run the tests".into(),
            raw_input: Some(input),
            ..Call::default()
        }
    }

    #[test]
    fn a_command_is_its_input_else_its_title() {
        assert_eq!(
            command_of(&call(json!({"command": "python3 test_calc.py"}))),
            "python3 test_calc.py"
        );
        assert_eq!(
            command_of(&call(json!({"command": ["git", "status"]}))),
            "git status"
        );
        assert_eq!(command_of(&call(json!({"cmd": 1}))), "Run the tests");
    }

    #[test]
    fn exit_codes_and_paths_are_read_as_agents_give_them() {
        assert_eq!(exit_code(Some(&json!({"exit_code": 2}))), Some(2));
        assert_eq!(exit_code(Some(&json!({"exitCode": 0}))), Some(0));
        assert_eq!(exit_code(Some(&json!({"output": "x"}))), None);
        assert_eq!(relative("/workspace/src/calc.py"), "src/calc.py");
        assert_eq!(relative("/etc/hosts"), "/etc/hosts");
    }
}
