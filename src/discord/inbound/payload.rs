//! An interaction's body, read into what lucid acts on. Only the fields lucid uses are
//! required: serenity's `Interaction` model also demands fields that Discord's own
//! documented examples leave out (`application_id` on a PING, `flags` on a member),
//! and a request refused for a field lucid never reads would be a request lost.

use crate::chat::PayloadError;
use serde::Deserialize;

/// Someone on Discord, named as their server shows them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Person {
    pub id: String,
    pub name: String,
    /// Their roles in the server the interaction came from.
    pub roles: Vec<String>,
}

#[derive(Deserialize)]
struct RawUser {
    id: String,
    username: String,
    #[serde(default)]
    global_name: Option<String>,
}

#[derive(Deserialize)]
struct RawMember {
    user: RawUser,
    #[serde(default)]
    nick: Option<String>,
    #[serde(default)]
    roles: Vec<String>,
}

impl Person {
    fn of(user: Option<RawUser>, member: Option<RawMember>) -> Option<Person> {
        let (user, nick, roles) = match (member, user) {
            (Some(m), _) => (m.user, m.nick, m.roles),
            (None, Some(u)) => (u, None, Vec::new()),
            (None, None) => return None,
        };
        let name = nick.or(user.global_name).unwrap_or(user.username);
        Some(Person {
            id: user.id,
            name,
            roles,
        })
    }
}

#[derive(Deserialize)]
struct RawInteraction {
    #[serde(rename = "type")]
    kind: u8,
    id: String,
    #[serde(default)]
    token: String,
    #[serde(default)]
    guild_id: Option<String>,
    #[serde(default)]
    channel_id: Option<String>,
    #[serde(default)]
    channel: Option<RawChannel>,
    #[serde(default)]
    member: Option<RawMember>,
    #[serde(default)]
    user: Option<RawUser>,
    #[serde(default)]
    data: Option<RawData>,
    #[serde(default)]
    message: Option<RawMessage>,
}

#[derive(Deserialize)]
struct RawChannel {
    #[serde(rename = "type")]
    kind: u8,
    #[serde(default)]
    parent_id: Option<String>,
}

#[derive(Deserialize)]
struct RawData {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    options: Vec<RawOption>,
    #[serde(default)]
    custom_id: Option<String>,
}

#[derive(Deserialize)]
struct RawOption {
    name: String,
    #[serde(default)]
    value: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct RawMessage {
    id: String,
}

/// Discord's thread channel types: announcement, public and private threads.
const THREAD_TYPES: [u8; 3] = [10, 11, 12];

/// A slash command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Command {
    pub id: String,
    pub token: String,
    pub name: String,
    pub guild: Option<String>,
    pub channel: String,
    /// The channel's parent, when the command was typed in a thread.
    pub thread_parent: Option<String>,
    pub person: Person,
    pub task: Option<String>,
    pub repo: Option<String>,
    /// The agent asked for by its option, as typed.
    pub agent: Option<String>,
}

/// A button pressed on one of lucid's messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Button {
    pub id: String,
    pub guild: Option<String>,
    pub channel: String,
    pub message: String,
    pub person: Person,
    pub custom_id: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DiscordRequest {
    /// Discord checking the endpoint (type 1).
    Ping,
    Command(Command),
    Button(Button),
    /// An interaction lucid has no use for (autocomplete, a modal), with why.
    Ignored(String),
}

/// Reads an interaction (400 with the field at fault when it cannot be read).
pub fn parse_interaction(body: &[u8]) -> Result<DiscordRequest, PayloadError> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    let raw: RawInteraction = serde_path_to_error::deserialize(de).map_err(|e| {
        PayloadError::new(format!(
            "not a Discord interaction: {} (at {})",
            e.inner(),
            e.path()
        ))
    })?;
    let missing = |what: &str| PayloadError::new(format!("an interaction without {what}"));
    match raw.kind {
        1 => return Ok(DiscordRequest::Ping),
        2 | 3 => {}
        4 => return Ok(DiscordRequest::Ignored("an autocomplete request".into())),
        5 => return Ok(DiscordRequest::Ignored("a modal's answer".into())),
        other => {
            return Ok(DiscordRequest::Ignored(format!(
                "an interaction of type {other}"
            )));
        }
    }
    let person = Person::of(raw.user, raw.member).ok_or_else(|| missing("member or user"))?;
    let channel = raw.channel_id.ok_or_else(|| missing("channel_id"))?;
    let data = raw.data.ok_or_else(|| missing("data"))?;
    if raw.token.is_empty() {
        return Err(missing("token"));
    }
    if raw.kind == 3 {
        return Ok(DiscordRequest::Button(Button {
            id: raw.id,
            guild: raw.guild_id,
            channel,
            message: raw.message.ok_or_else(|| missing("message"))?.id,
            person,
            custom_id: data.custom_id.ok_or_else(|| missing("data.custom_id"))?,
        }));
    }
    let option = |name: &str| {
        data.options.iter().find_map(|o| match &o.value {
            Some(serde_json::Value::String(s)) if o.name == name => Some(s.clone()),
            _ => None,
        })
    };
    let thread_parent = raw
        .channel
        .filter(|c| THREAD_TYPES.contains(&c.kind))
        .and_then(|c| c.parent_id);
    Ok(DiscordRequest::Command(Command {
        task: option("task"),
        repo: option("repo"),
        agent: option("agent"),
        id: raw.id,
        token: raw.token,
        name: data.name.ok_or_else(|| missing("data.name"))?,
        guild: raw.guild_id,
        channel,
        thread_parent,
        person,
    }))
}

#[cfg(test)]
mod tests;
