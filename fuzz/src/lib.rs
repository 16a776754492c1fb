//! What lucid's fuzz targets share: each platform's size limits, checked on what lucid
//! would send, and a session with its event log built from the fuzzer's bytes for the
//! renderers.

use arbitrary::Arbitrary;
use lucid::core::{
    Author, DeliveryId, Event, EventBody, PermissionOutcome, RepoRef, Session, SessionId,
    SessionState, ThreadRef, Timestamp, Trigger, Usage,
};
use serde_json::Value;

/// GitHub refuses an issue comment longer than this (characters).
pub const GITHUB_COMMENT_CHARS: usize = 65_536;
/// Slack refuses a section (or context element) whose text is longer than this.
pub const SLACK_SECTION_CHARS: usize = 3_000;
/// Slack shows at most this much of a message's `text`.
pub const SLACK_TEXT_CHARS: usize = 4_000;
/// Discord refuses a message whose content is longer than this.
pub const DISCORD_CONTENT_CHARS: usize = 2_000;
/// Notion refuses a rich-text item whose content (or link) is longer than this.
pub const NOTION_TEXT_CHARS: usize = 2_000;
/// Notion refuses a rich-text array longer than this.
pub const NOTION_ITEMS: usize = 100;

pub fn chars(s: &str) -> usize {
    s.chars().count()
}

/// Fails (a crash the fuzzer keeps) when `text` is over `max` characters.
#[track_caller]
pub fn within(what: &str, text: &str, max: usize) {
    let n = chars(text);
    assert!(n <= max, "{what}: {n} characters, over the limit of {max}");
}

/// Notion's rich text as lucid sends it: every item's content and link within 2,000
/// characters, at most 100 items.
#[track_caller]
pub fn notion_rich_text(items: &[Value]) {
    assert!(
        items.len() <= NOTION_ITEMS,
        "{} rich-text items",
        items.len()
    );
    for item in items {
        let content = item["text"]["content"]
            .as_str()
            .expect("an item has content");
        within("Notion rich-text content", content, NOTION_TEXT_CHARS);
        if let Some(url) = item["text"]["link"]["url"].as_str() {
            within("Notion rich-text link", url, NOTION_TEXT_CHARS);
        }
    }
}

/// Slack's Block Kit as lucid sends it: every text object within a section's limit.
#[track_caller]
pub fn slack_blocks(blocks: &Value) {
    match blocks {
        Value::Object(map) => {
            if let Some(Value::String(text)) = map.get("text") {
                within("Slack block text", text, SLACK_SECTION_CHARS);
            }
            map.values().for_each(slack_blocks);
        }
        Value::Array(items) => items.iter().for_each(slack_blocks),
        _ => {}
    }
}

/// The fuzzer's bytes split at the first newline: a header line (an event name, a
/// secret) and the rest.
pub fn split_line(data: &[u8]) -> (&[u8], &[u8]) {
    match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[]),
    }
}

/// The fuzzer's bytes as lines: the first `n - 1` lines (each `None` when it is not
/// UTF-8: a header that is absent) and the rest.
pub fn lines<const N: usize>(mut data: &[u8]) -> ([Option<&str>; N], &[u8]) {
    let mut out = [None; N];
    for slot in out.iter_mut() {
        let (line, rest) = split_line(data);
        *slot = std::str::from_utf8(line).ok();
        data = rest;
    }
    (out, data)
}

/// How many characters of text a rendering input may grow to when its strings are
/// repeated: past GitHub's limit (the largest), small enough to keep executions fast.
pub const BUDGET: usize = 70_000;

/// A string, used once but for six values of `rep` that repeat it (so that limits
/// are reached with a small input): 1,000 to 5,000 times, or as often as the input's
/// budget lets (255). Those are rare so that most executions stay small and fast.
#[derive(Arbitrary, Debug)]
pub struct Txt {
    s: String,
    rep: u8,
}

impl Txt {
    fn get(&self, budget: &mut usize) -> String {
        let times = match self.rep {
            255 => usize::MAX,
            250..=254 => (usize::from(self.rep) - 249) * 1_000,
            _ => 1,
        };
        let len = chars(&self.s).max(1);
        let times = times.min(1 + *budget / len);
        let out = self.s.repeat(times);
        *budget = budget.saturating_sub(chars(&out));
        out
    }
}

/// One event of a session's log (every kind [`EventBody`] has).
#[derive(Arbitrary, Debug)]
pub enum Ev {
    Thought(Txt),
    Command(Txt),
    Output(Txt, Option<i64>),
    FileEdit(Txt, Txt),
    Status(u8, Option<Txt>),
    UserMessage(Txt, Txt),
    PrOpened(Txt, u64),
    Usage(u64, u64, u64),
    Error(Txt),
    Checkpoint(u32, Txt, Vec<String>),
    RevertAsked(Txt, Option<u32>),
    Reverted(u32, Vec<String>),
    RevertRefused(Txt),
    PreviewAsked(Txt, u16),
    PreviewOpened(u16, Txt),
    PreviewRefused(Txt),
    HostReached(Txt, u16, u64, u64, Option<Txt>, Option<Txt>),
    AgentLog(Txt, Txt),
    PermissionAsked(u32, Txt, Option<String>, u64),
    PermissionAnswered(Txt, Option<u32>, bool),
    PermissionSettled(u32, u8, Option<String>),
    Prepared(Txt, bool, u64),
}

/// A session, its run's log, the time and the session's link.
#[derive(Arbitrary, Debug)]
pub struct RenderInput {
    state: u8,
    reason: Option<Txt>,
    pr_url: Option<Txt>,
    branch: Option<Txt>,
    model: Option<Txt>,
    author_id: Txt,
    author_name: Txt,
    task: Txt,
    title: Option<Txt>,
    repo: Option<String>,
    agent: Option<Txt>,
    thread: u8,
    usage: (u64, u64, u64),
    /// Seconds after 2023-11-14 (a plausible clock: timestamps come from lucid's).
    created_secs: u32,
    elapsed_ms: u64,
    session_url: Txt,
    events: Vec<(u32, Ev)>,
}

pub struct Rendering {
    pub session: Session,
    pub events: Vec<Event>,
    pub now: Timestamp,
    pub session_url: String,
}

pub fn state(n: u8) -> SessionState {
    SessionState::ALL[usize::from(n) % SessionState::ALL.len()]
}

impl RenderInput {
    pub fn build(&self) -> Rendering {
        let b = &mut BUDGET.clone();
        let opt = |t: &Option<Txt>, b: &mut usize| t.as_ref().map(|t| t.get(b));
        let created =
            Timestamp::from_millis(1_700_000_000_000 + i64::from(self.created_secs) * 1_000);
        // Up to a century later.
        let now = Timestamp::from_millis(
            created.as_millis() + (self.elapsed_ms % 3_155_760_000_000) as i64,
        );
        let id = |s: String| s;
        let thread = match self.thread % 5 {
            0 => ThreadRef::Github {
                repo: RepoRef::parse("acme/app").unwrap(),
                issue: u64::from(self.thread),
            },
            1 => ThreadRef::Slack {
                team: "T1".into(),
                channel: "C1".into(),
                thread_ts: "1.1".into(),
            },
            2 => ThreadRef::Discord {
                channel: "1".into(),
                thread: Some("2".into()),
            },
            3 => ThreadRef::Notion { page: "p".into() },
            _ => ThreadRef::Web { id: "w".into() },
        };
        let trigger = Trigger {
            thread,
            author: Author {
                id: id(self.author_id.get(b)),
                display_name: self.author_name.get(b),
            },
            task: self.task.get(b),
            title: opt(&self.title, b),
            repo: self.repo.as_deref().and_then(|r| RepoRef::parse(r).ok()),
            delivery: DeliveryId::parse("d1").unwrap(),
            agent: opt(&self.agent, b),
        };
        let mut session = Session::new(trigger, created);
        session.state = state(self.state);
        session.reason = opt(&self.reason, b);
        session.pr_url = opt(&self.pr_url, b);
        session.branch = opt(&self.branch, b);
        session.model = opt(&self.model, b);
        session.usage = Usage {
            tokens_in: self.usage.0,
            tokens_out: self.usage.1,
            cost_micros: self.usage.2,
        };
        session.updated_at = now;
        let events = self
            .events
            .iter()
            .enumerate()
            .map(|(i, (at, ev))| Event {
                session: session.id,
                seq: i as u64 + 1,
                at: Timestamp::from_millis(created.as_millis() + i64::from(*at)),
                body: ev.body(b),
            })
            .collect();
        Rendering {
            session,
            events,
            now,
            session_url: self.session_url.get(b),
        }
    }
}

impl Ev {
    fn body(&self, b: &mut usize) -> EventBody {
        let opt = |t: &Option<Txt>, b: &mut usize| t.as_ref().map(|t| t.get(b));
        match self {
            Ev::Thought(t) => EventBody::Thought { text: t.get(b) },
            Ev::Command(c) => EventBody::Command { command: c.get(b) },
            Ev::Output(t, exit_code) => EventBody::Output {
                text: t.get(b),
                exit_code: *exit_code,
            },
            Ev::FileEdit(p, d) => EventBody::FileEdit {
                path: p.get(b),
                diff: d.get(b),
            },
            Ev::Status(s, m) => EventBody::Status {
                state: state(*s),
                message: opt(m, b),
            },
            Ev::UserMessage(a, t) => EventBody::UserMessage {
                author: a.get(b),
                text: t.get(b),
            },
            Ev::PrOpened(u, number) => EventBody::PrOpened {
                url: u.get(b),
                number: *number,
            },
            Ev::Usage(i, o, c) => EventBody::Usage {
                tokens_in: *i,
                tokens_out: *o,
                cost_micros: *c,
            },
            Ev::Error(m) => EventBody::Error { message: m.get(b) },
            Ev::Checkpoint(number, label, files) => EventBody::Checkpoint {
                number: *number,
                label: label.get(b),
                files: files.clone(),
            },
            Ev::RevertAsked(a, checkpoint) => EventBody::RevertAsked {
                author: a.get(b),
                checkpoint: *checkpoint,
            },
            Ev::Reverted(checkpoint, files) => EventBody::Reverted {
                checkpoint: *checkpoint,
                files: files.clone(),
            },
            Ev::RevertRefused(r) => EventBody::RevertRefused { reason: r.get(b) },
            Ev::PreviewAsked(a, port) => EventBody::PreviewAsked {
                author: a.get(b),
                port: *port,
            },
            Ev::PreviewOpened(port, u) => EventBody::PreviewOpened {
                port: *port,
                url: u.get(b),
            },
            Ev::PreviewRefused(r) => EventBody::PreviewRefused { reason: r.get(b) },
            Ev::HostReached(host, port, up, down, refused, error) => EventBody::HostReached {
                host: host.get(b),
                port: *port,
                bytes_up: *up,
                bytes_down: *down,
                refused: opt(refused, b),
                error: opt(error, b),
            },
            Ev::AgentLog(a, t) => EventBody::AgentLog {
                agent: a.get(b),
                text: t.get(b),
            },
            Ev::PermissionAsked(number, title, tool, within_secs) => EventBody::PermissionAsked {
                number: *number,
                title: title.get(b),
                tool: tool.clone(),
                within_secs: *within_secs,
            },
            Ev::PermissionAnswered(a, number, allow) => EventBody::PermissionAnswered {
                author: a.get(b),
                number: *number,
                allow: *allow,
            },
            Ev::PermissionSettled(number, outcome, by) => EventBody::PermissionSettled {
                number: *number,
                outcome: match outcome % 4 {
                    0 => PermissionOutcome::Allowed,
                    1 => PermissionOutcome::Rejected,
                    2 => PermissionOutcome::TimedOut,
                    _ => PermissionOutcome::Cancelled,
                },
                by: by.clone(),
            },
            Ev::Prepared(image, reused, took_ms) => EventBody::Prepared {
                image: image.get(b),
                reused: *reused,
                took_ms: *took_ms,
            },
        }
    }
}

/// Strings of `Txt`s sharing one budget, for the renderers of single messages.
pub struct Texts(usize);

impl Default for Texts {
    fn default() -> Self {
        Texts(BUDGET)
    }
}

impl Texts {
    /// Strings that may grow to `budget` characters in all.
    pub fn within(budget: usize) -> Self {
        Texts(budget)
    }

    pub fn get(&mut self, t: &Txt) -> String {
        t.get(&mut self.0)
    }
}

/// Any session id (its text is fixed-length; which one does not matter).
pub fn session_id() -> SessionId {
    SessionId::new()
}

/// Notion's comments take replies of up to this many characters (`NotionPlatform`'s
/// pacing), then split into rich text.
pub const NOTION_COMMENT_CHARS: usize = 4_000;

/// Replies (key moments, the ending) as each platform that takes replies renders,
/// joins (`chat::coalesce`, to the platform's pacing) and sends them: each within the
/// platform's limit.
pub fn replies(texts: &[lucid::messages::Text]) {
    use lucid::chat::coalesce;
    use lucid::discord::outbound::markup::DiscordMarkup;
    use lucid::github::outbound::markup::GithubMarkup;
    use lucid::notion::outbound::markup::{NotionMarkup, rich_text};
    use lucid::slack::outbound::markup::SlackMarkup;
    use lucid::slack::outbound::status::MAX_REPLY_CHARS;
    let render = |m: &dyn lucid::messages::Markup| -> Vec<String> {
        texts.iter().map(|t| t.render(m)).collect()
    };
    for reply in coalesce(render(&SlackMarkup), MAX_REPLY_CHARS) {
        within("a Slack reply", &reply, SLACK_TEXT_CHARS);
    }
    for reply in coalesce(render(&DiscordMarkup), DISCORD_CONTENT_CHARS) {
        within("a Discord reply", &reply, DISCORD_CONTENT_CHARS);
    }
    for reply in coalesce(render(&NotionMarkup), NOTION_COMMENT_CHARS) {
        notion_rich_text(&rich_text(&reply));
    }
    // GitHub takes no replies (its one comment is edited), but a message rendered for
    // it must not panic either.
    let _ = render(&GithubMarkup);
    let _ = render(&lucid::messages::PlainWords);
}

/// Everything the intake reads from words said to lucid, as each platform's route
/// hands them on: the agent asked for, and the asks that are lucid's own.
pub fn intents(text: &str) {
    use lucid::core::intent::{
        agent_asked, is_stop, permission_answered, preview_asked, revert_asked,
    };
    let known = [
        "gemini".to_owned(),
        "built-in".to_owned(),
        "claude-code".to_owned(),
    ];
    if let Some((agent, rest)) = agent_asked(text, &known) {
        assert!(known.iter().any(|k| k == agent));
        assert!(text.contains(rest));
    }
    let _ = is_stop(text);
    let _ = revert_asked(text).map(|r| r.checkpoint());
    let _ = permission_answered(text);
    if let Some(port) = preview_asked(text) {
        assert!(port > 0);
    }
}
