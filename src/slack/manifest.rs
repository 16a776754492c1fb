//! lucid's Slack app, as one table: the Web API methods lucid's client calls, each
//! with the bot scope Slack asks for it; the events lucid hears, each with its scope;
//! the `/lucid` command; and the three addresses Slack sends requests to. The app
//! manifest `lucid setup slack` prints, `manifests/slack-app.yaml`, the routes lucid
//! serves and what `lucid doctor` expects of a bot token are all read from here, so a
//! method the client calls cannot go without its scope (the client names a method
//! only as a [`WebMethod`], and each has its scope written beside it).
//!
//! Manifest format: <https://docs.slack.dev/reference/app-manifest>. Scopes per
//! method: each method's reference page (`chat.postMessage`: `chat:write`, …).

use serde_json::{Value, json};

/// Where Slack sends Events API requests.
pub const EVENTS_PATH: &str = "/webhooks/slack/events";
/// Where Slack sends interactive components (the buttons of lucid's messages).
pub const INTERACTIONS_PATH: &str = "/webhooks/slack/interactions";
/// Where Slack sends the `/lucid` slash command.
pub const COMMANDS_PATH: &str = "/webhooks/slack/commands";
/// The slash command lucid's app has.
pub const COMMAND: &str = "/lucid";
/// The scope a slash command needs.
pub const COMMANDS_SCOPE: &str = "commands";
/// The public URL `manifests/slack-app.yaml` is written with.
pub const PLACEHOLDER_URL: &str = "https://lucid.example.com";

macro_rules! web_methods {
    ($($(#[$doc:meta])* $variant:ident = $name:literal, $scope:expr;)*) => {
        /// A Slack Web API method lucid calls.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum WebMethod {
            $($(#[$doc])* $variant,)*
        }

        impl WebMethod {
            /// Every method lucid calls.
            pub const ALL: &'static [WebMethod] = &[$(WebMethod::$variant),*];

            /// The method's name in the Web API.
            pub const fn name(self) -> &'static str {
                match self {
                    $(WebMethod::$variant => $name,)*
                }
            }

            /// The bot scope Slack asks for it; None for a method any token may call.
            pub const fn scope(self) -> Option<&'static str> {
                match self {
                    $(WebMethod::$variant => $scope,)*
                }
            }
        }
    };
}

web_methods! {
    /// Who the token belongs to (and, in its answer's headers, its scopes).
    AuthTest = "auth.test", None;
    /// The status message and every reply in a thread.
    ChatPostMessage = "chat.postMessage", Some("chat:write");
    /// The status message, updated in place.
    ChatUpdate = "chat.update", Some("chat:write");
    /// A message only one person sees.
    ChatPostEphemeral = "chat.postEphemeral", Some("chat:write");
    /// 👀 on a message lucid took.
    ReactionsAdd = "reactions.add", Some("reactions:write");
    /// A person's name as Slack shows it.
    UsersInfo = "users.info", Some("users:read");
}

/// An Events API event lucid's app subscribes to as a bot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BotEvent {
    /// The subscription's name (`message.channels`).
    pub name: &'static str,
    /// The `type` of the event Slack then sends (`message`).
    pub event_type: &'static str,
    /// The `channel_type` of the message events it brings, if it is one.
    pub channel_type: Option<&'static str>,
    pub scope: &'static str,
}

/// The events lucid hears: mentions of the bot, and every message in public and
/// private channels it is in (a session's thread reaches its agent).
pub const BOT_EVENTS: &[BotEvent] = &[
    BotEvent {
        name: "app_mention",
        event_type: "app_mention",
        channel_type: None,
        scope: "app_mentions:read",
    },
    BotEvent {
        name: "message.channels",
        event_type: "message",
        channel_type: Some("channel"),
        scope: "channels:history",
    },
    BotEvent {
        name: "message.groups",
        event_type: "message",
        channel_type: Some("group"),
        scope: "groups:history",
    },
];

/// Scopes lucid does without, less well: names fall back to user ids, and only
/// mentions reach a session (not every message of its thread).
pub const SCOPES_TO_DO_WITHOUT: &[&str] = &["users:read", "channels:history", "groups:history"];

/// Every bot scope lucid's app asks for, sorted: those of the methods it calls, of
/// the events it hears, and of its slash command. Nothing else.
pub fn bot_scopes() -> Vec<&'static str> {
    let mut scopes: Vec<&'static str> = WebMethod::ALL
        .iter()
        .filter_map(|m| m.scope())
        .chain(BOT_EVENTS.iter().map(|e| e.scope))
        .chain([COMMANDS_SCOPE])
        .collect();
    scopes.sort_unstable();
    scopes.dedup();
    scopes
}

/// The scopes of [`bot_scopes`] missing from `granted` (as Slack lists them in
/// `x-oauth-scopes`: comma-separated).
pub fn missing_scopes(granted: &str) -> Vec<&'static str> {
    let granted: Vec<&str> = granted.split(',').map(str::trim).collect();
    bot_scopes()
        .into_iter()
        .filter(|scope| !granted.contains(scope))
        .collect()
}

/// The app manifest for lucid reached at `public_url`, as Slack reads it.
pub fn manifest(public_url: &str) -> Value {
    let base = public_url.trim_end_matches('/');
    let words = crate::messages::slack_app_words();
    json!({
        "display_information": {
            "name": "lucid",
            "description": words.description,
        },
        "features": {
            "bot_user": {
                "display_name": "lucid",
                "always_online": true,
            },
            "slash_commands": [{
                "command": COMMAND,
                "url": format!("{base}{COMMANDS_PATH}"),
                "description": words.command_description,
                "usage_hint": words.command_usage_hint,
                "should_escape": false,
            }],
        },
        "oauth_config": {
            "scopes": { "bot": bot_scopes() },
        },
        "settings": {
            "event_subscriptions": {
                "request_url": format!("{base}{EVENTS_PATH}"),
                "bot_events": BOT_EVENTS.iter().map(|e| e.name).collect::<Vec<_>>(),
            },
            "interactivity": {
                "is_enabled": true,
                "request_url": format!("{base}{INTERACTIONS_PATH}"),
            },
            "org_deploy_enabled": false,
            "socket_mode_enabled": false,
            "token_rotation_enabled": false,
        },
    })
}

/// The manifest as YAML, the form Slack's "Create an app → From a manifest" shows
/// first.
pub fn manifest_yaml(public_url: &str) -> String {
    let mut out = String::new();
    yaml(&manifest(public_url), 0, &mut out);
    out
}

/// Block-style YAML of a JSON value made of objects, arrays, strings, booleans and
/// numbers (keys in the object's order).
fn yaml(value: &Value, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                match value {
                    Value::Object(_) | Value::Array(_) => {
                        out.push_str(&format!("{pad}{key}:\n"));
                        yaml(value, indent + 2, out);
                    }
                    scalar => out.push_str(&format!("{pad}{key}: {}\n", yaml_scalar(scalar))),
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                match item {
                    Value::Object(_) => {
                        // The first key on the dash's line, the rest under it.
                        let mut inner = String::new();
                        yaml(item, indent + 2, &mut inner);
                        let first = inner.trim_start();
                        out.push_str(&format!("{pad}- {first}"));
                    }
                    scalar => out.push_str(&format!("{pad}- {}\n", yaml_scalar(scalar))),
                }
            }
        }
        scalar => out.push_str(&format!("{pad}{}\n", yaml_scalar(scalar))),
    }
}

/// A scalar plain when YAML reads it back as the same string, else double-quoted
/// (JSON's quoting is YAML's).
fn yaml_scalar(value: &Value) -> String {
    let Value::String(s) = value else {
        return value.to_string();
    };
    let plain_chars = s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || " _-./:,()'".contains(c));
    let reads_as_other = matches!(
        s.to_ascii_lowercase().as_str(),
        "true" | "false" | "yes" | "no" | "on" | "off" | "null" | "~"
    ) || s.parse::<f64>().is_ok();
    let plain = !s.is_empty()
        && plain_chars
        && !reads_as_other
        && !s.contains(": ")
        && !s.ends_with(':')
        && !s.starts_with([' ', '-', ':', ',', '\''])
        && !s.ends_with(' ');
    if plain { s.clone() } else { value.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_method_has_its_scope_in_the_manifest() {
        let manifest = manifest("https://lucid.test");
        let scopes: Vec<&str> = manifest["oauth_config"]["scopes"]["bot"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap())
            .collect();
        for method in WebMethod::ALL {
            if let Some(scope) = method.scope() {
                assert!(scopes.contains(&scope), "{} needs {scope}", method.name());
            }
        }
        assert_eq!(
            scopes,
            [
                "app_mentions:read",
                "channels:history",
                "chat:write",
                "commands",
                "groups:history",
                "reactions:write",
                "users:read"
            ]
        );
        for scope in SCOPES_TO_DO_WITHOUT {
            assert!(scopes.contains(scope), "{scope}");
        }
    }

    #[test]
    fn the_missing_scopes_are_named() {
        assert_eq!(
            missing_scopes(
                "app_mentions:read,channels:history,commands,groups:history,reactions:write,users:read"
            ),
            ["chat:write"]
        );
        assert!(missing_scopes(&bot_scopes().join(",")).is_empty());
    }

    #[test]
    fn each_bot_event_is_one_lucid_reads() {
        use crate::slack::inbound::{SlackRequest, parse_events};
        for event in BOT_EVENTS {
            let mut inner = json!({
                "type": event.event_type,
                "user": "U0ADA",
                "text": "<@U0LUCID> hello",
                "ts": "1700000000.000100",
                "channel": "C0CALC",
                "event_ts": "1700000000.000100",
            });
            if let Some(kind) = event.channel_type {
                inner["channel_type"] = json!(kind);
            }
            let body = json!({
                "token": "x",
                "team_id": "T0001",
                "api_app_id": "A0001",
                "event": inner,
                "type": "event_callback",
                "event_id": "Ev0001",
                "event_time": 1_700_000_000,
                "authorizations": [{"team_id": "T0001", "user_id": "U0LUCID", "is_bot": true}],
            });
            let parsed = parse_events(body.to_string().as_bytes()).unwrap();
            assert!(
                matches!(parsed, SlackRequest::Message(_)),
                "{}: {parsed:?}",
                event.name
            );
        }
    }

    #[test]
    fn yaml_scalars_stay_what_they_are() {
        assert_eq!(yaml_scalar(&json!("chat:write")), "chat:write");
        assert_eq!(yaml_scalar(&json!("/lucid")), "/lucid");
        assert_eq!(
            yaml_scalar(&json!("https://x.test/webhooks/slack/events")),
            "https://x.test/webhooks/slack/events"
        );
        assert_eq!(yaml_scalar(&json!("true")), "\"true\"");
        assert_eq!(yaml_scalar(&json!("a: b")), "\"a: b\"");
        assert_eq!(
            yaml_scalar(&json!("<task> in owner/repo")),
            "\"<task> in owner/repo\""
        );
        assert_eq!(yaml_scalar(&json!(true)), "true");
    }
}
