use super::*;

macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!("../../../../tests/data/slack/", $name))
    };
}

const APP_MENTION: &str = fixture!("event_callback.app_mention.json");
const BLOCK_ACTIONS: &str = fixture!("block_actions.stop.txt");
const SLASH_COMMAND: &str = fixture!("slash_command.txt");

const TEAM: &str = "T061EG9R6";
const CHANNEL: &str = "C0LAN2Q65";
const BOT: &str = "U0LAN0Z89";
const ANA: &str = "U061F7AUR";
const ROOT: &str = "1515449522.000016";

fn delivery(id: &str) -> DeliveryId {
    DeliveryId::parse(id).unwrap()
}

fn message(body: &str) -> SlackMessage {
    match parse_events(body.as_bytes()).unwrap() {
        SlackRequest::Message(message) => message,
        other => panic!("not a message: {other:?}"),
    }
}

/// The `app_mention` fixture, changed by `edit`.
fn edited_mention(edit: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut value: Value = serde_json::from_str(APP_MENTION).unwrap();
    edit(&mut value);
    serde_json::to_vec(&value).unwrap()
}

/// The block_actions fixture's JSON, changed by `edit`, form-encoded again.
fn edited_click(edit: impl FnOnce(&mut Value)) -> Vec<u8> {
    let form = form(BLOCK_ACTIONS.as_bytes(), "").unwrap();
    let mut value: Value = serde_json::from_str(form_field(&form, "payload").unwrap()).unwrap();
    edit(&mut value);
    url::form_urlencoded::Serializer::new(String::new())
        .append_pair("payload", &value.to_string())
        .finish()
        .into_bytes()
}

/// The slash command fixture without the field `name`.
fn command_without(name: &str) -> Vec<u8> {
    let kept = url::form_urlencoded::parse(SLASH_COMMAND.as_bytes()).filter(|(k, _)| k != name);
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(kept)
        .finish()
        .into_bytes()
}

fn events_refusal(body: &[u8]) -> String {
    parse_events(body).unwrap_err().reason().to_owned()
}

#[test]
fn url_verification_is_read() {
    assert_eq!(
        parse_events(fixture!("url_verification.json").as_bytes()).unwrap(),
        SlackRequest::UrlVerification {
            challenge: "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P".into()
        }
    );
}

#[test]
fn an_app_mention_is_read() {
    let expected = SlackMessage {
        kind: MessageKind::AppMention,
        event_id: delivery("Ev0LAN670R"),
        team: TEAM.into(),
        channel: CHANNEL.into(),
        user: Some(ANA.into()),
        bot_id: None,
        text: "<@U0LAN0Z89> fix the flaky test in <https://github.com/acme/widgets|acme/widgets> \
               &amp; add a regression test"
            .into(),
        ts: ROOT.into(),
        thread_ts: None,
        is_mention: true,
        subtype: None,
        bot_user_id: Some(BOT.into()),
    };
    let message = message(APP_MENTION);
    assert_eq!(message, expected);
    assert_eq!(message.thread_root(), ROOT);
    assert!(!message.is_reply() && !message.is_from_bot());
    assert_eq!(
        message.thread(),
        ThreadRef::Slack {
            team: TEAM.into(),
            channel: CHANNEL.into(),
            thread_ts: ROOT.into()
        }
    );
    assert_eq!(
        SlackRequest::Message(message).dedupe_key(),
        Some(delivery("Ev0LAN670R"))
    );
}

#[test]
fn an_app_mention_in_a_thread_answers_in_that_thread() {
    let message = message(fixture!("event_callback.app_mention.in_thread.json"));
    assert_eq!(
        message,
        SlackMessage {
            kind: MessageKind::AppMention,
            event_id: delivery("Ev0LAN7Q4T"),
            team: TEAM.into(),
            channel: CHANNEL.into(),
            user: Some(ANA.into()),
            bot_id: None,
            text: "<@U0LAN0Z89|lucid> can you take this one? It's in acme/widgets".into(),
            ts: "1515449610.000300".into(),
            thread_ts: Some(ROOT.into()),
            is_mention: true,
            subtype: None,
            bot_user_id: Some(BOT.into()),
        }
    );
    assert_eq!(message.thread_root(), ROOT);
    assert!(message.is_reply());
    assert_eq!(message.thread().key(), format!("{TEAM}/{CHANNEL}/{ROOT}"));
}

#[test]
fn a_message_in_a_thread_is_read() {
    let message = message(fixture!("event_callback.message.in_thread.json"));
    assert_eq!(
        message,
        SlackMessage {
            kind: MessageKind::Message,
            event_id: delivery("Ev0LAN8B2K"),
            team: TEAM.into(),
            channel: CHANNEL.into(),
            user: Some(ANA.into()),
            bot_id: None,
            text: "also the test in src/lib/parse.rs fails on Windows".into(),
            ts: "1515449700.000400".into(),
            thread_ts: Some(ROOT.into()),
            is_mention: false,
            subtype: None,
            bot_user_id: Some(BOT.into()),
        }
    );
    assert!(message.is_reply() && !message.is_from_bot());
    assert_eq!(message.thread_root(), ROOT);
}

#[test]
fn a_bot_message_is_read_as_from_a_bot() {
    let message = message(fixture!("event_callback.message.bot_message.json"));
    assert_eq!(
        message,
        SlackMessage {
            kind: MessageKind::Message,
            event_id: delivery("Ev0LAN9D5W"),
            team: TEAM.into(),
            channel: CHANNEL.into(),
            user: None,
            bot_id: Some("B0LAN1K2M".into()),
            text: "Build #812 of acme/widgets passed".into(),
            ts: "1515449755.000500".into(),
            thread_ts: Some(ROOT.into()),
            is_mention: false,
            subtype: Some("bot_message".into()),
            bot_user_id: Some(BOT.into()),
        }
    );
    assert!(message.is_from_bot());
}

#[test]
fn an_edited_message_is_ignored() {
    assert_eq!(
        parse_events(fixture!("event_callback.message.message_changed.json").as_bytes()).unwrap(),
        SlackRequest::Ignored {
            reason: "message events of subtype message_changed are not handled".into()
        }
    );
}

#[test]
fn lucids_own_messages_are_from_a_bot() {
    // What chat.postMessage with the bot token looks like when it comes back: no
    // subtype, the bot user as `user`, and a `bot_id`.
    let body = edited_mention(|v| {
        v["event"]["type"] = "message".into();
        v["event"]["user"] = BOT.into();
        v["event"]["bot_id"] = "B0LAN0Z8A".into();
    });
    let message = message(std::str::from_utf8(&body).unwrap());
    assert!(message.is_from_bot());
    let mut message = message;
    message.bot_id = None;
    assert!(message.is_from_bot(), "the bot user alone is enough");
}

#[test]
fn a_message_mentioning_the_bot_is_marked_so() {
    for (text, is_mention) in [
        ("<@U0LAN0Z89> fix it", true),
        ("thanks <@U0LAN0Z89|lucid>!", true),
        ("ask <@U0LAN0Z890> instead", false),
        ("ask <@U061F7AUR>", false),
        ("U0LAN0Z89 fix it", false),
    ] {
        let body = edited_mention(|v| {
            v["event"]["type"] = "message".into();
            v["event"]["text"] = text.into();
        });
        let message = message(std::str::from_utf8(&body).unwrap());
        assert_eq!(message.kind, MessageKind::Message);
        assert_eq!(message.is_mention, is_mention, "{text:?}");
    }
    // Without authorizations the bot is not known, and only app_mention says so.
    let body = edited_mention(|v| {
        v["event"]["type"] = "message".into();
        v.as_object_mut().unwrap().remove("authorizations");
    });
    let message = message(std::str::from_utf8(&body).unwrap());
    assert_eq!((message.is_mention, message.bot_user_id), (false, None));
}

#[test]
fn other_subtypes_that_post_something_are_read() {
    for subtype in ["thread_broadcast", "file_share", "me_message"] {
        let body = edited_mention(|v| {
            v["event"]["type"] = "message".into();
            v["event"]["subtype"] = subtype.into();
        });
        let message = message(std::str::from_utf8(&body).unwrap());
        assert_eq!(message.subtype.as_deref(), Some(subtype));
        assert!(!message.is_from_bot());
    }
    let body = edited_mention(|v| {
        v["event"]["type"] = "message".into();
        v["event"]["subtype"] = "channel_join".into();
    });
    assert_eq!(
        parse_events(&body).unwrap(),
        SlackRequest::Ignored {
            reason: "message events of subtype channel_join are not handled".into()
        }
    );
}

#[test]
fn a_message_without_text_reads_as_empty() {
    let body = edited_mention(|v| {
        v["event"].as_object_mut().unwrap().remove("text");
    });
    assert_eq!(message(std::str::from_utf8(&body).unwrap()).text, "");
}

#[test]
fn other_events_and_requests_are_ignored() {
    let body = edited_mention(|v| v["event"]["type"] = "reaction_added".into());
    assert_eq!(
        parse_events(&body).unwrap(),
        SlackRequest::Ignored {
            reason: "reaction_added events are not handled".into()
        }
    );
    assert_eq!(
        parse_events(
            br#"{"type":"app_rate_limited","team_id":"T1","minute_rate_limited":1518467820}"#
        )
        .unwrap(),
        SlackRequest::Ignored {
            reason: "app_rate_limited requests are not handled".into()
        }
    );
}

#[test]
fn malformed_json_is_refused_with_the_reason() {
    let reason = events_refusal(br#"{"type": "event_callback""#);
    assert!(reason.starts_with("the body is not JSON"), "{reason}");
    assert!(reason.contains("EOF"), "{reason}");
    let reason = events_refusal(BLOCK_ACTIONS.as_bytes());
    assert!(
        reason.contains("interaction or a slash command"),
        "{reason}"
    );
    assert_eq!(
        events_refusal(b"[1, 2]"),
        "the Events API body is not a JSON object"
    );
}

#[test]
fn a_missing_field_is_named_with_its_path() {
    for (field, path) in [
        ("channel", "event.channel"),
        ("ts", "event.ts"),
        ("type", "event.type"),
    ] {
        let body = edited_mention(|v| {
            v["event"].as_object_mut().unwrap().remove(field);
        });
        assert_eq!(
            events_refusal(&body),
            format!("the event_callback payload is invalid: `{path}` is missing")
        );
    }
    for field in ["event_id", "team_id", "event", "type"] {
        let body = edited_mention(|v| {
            v.as_object_mut().unwrap().remove(field);
        });
        let what = if field == "type" {
            "the Events API body"
        } else {
            "the event_callback payload"
        };
        assert_eq!(
            events_refusal(&body),
            format!("{what} is invalid: `{field}` is missing")
        );
    }
    let body = edited_mention(|v| {
        v["authorizations"][0]
            .as_object_mut()
            .unwrap()
            .remove("user_id");
    });
    assert_eq!(
        events_refusal(&body),
        "the event_callback payload is invalid: `authorizations[0].user_id` is missing"
    );
    assert_eq!(
        events_refusal(br#"{"type":"url_verification","token":"x"}"#),
        "the url_verification payload is invalid: `challenge` is missing"
    );
}

#[test]
fn a_wrong_field_is_named_with_its_path() {
    let body = edited_mention(|v| v["event"]["ts"] = 1515449522.into());
    assert_eq!(
        events_refusal(&body),
        "the event_callback payload is invalid: `event.ts` is wrong: \
         invalid type: integer `1515449522`, expected a string"
    );
    let body = edited_mention(|v| v["event"] = "app_mention".into());
    assert_eq!(
        events_refusal(&body),
        "the event_callback payload is invalid: `event` is not a JSON object"
    );
    let body = edited_mention(|v| v["event"]["type"] = 1.into());
    assert_eq!(
        events_refusal(&body),
        "the event_callback payload is invalid: `event.type` is not a string"
    );
    let body = edited_mention(|v| v["event_id"] = "".into());
    assert_eq!(
        events_refusal(&body),
        "the event_callback payload is invalid: `event_id` is wrong: \"\" is not a delivery id"
    );
}

#[test]
fn a_click_on_stop_is_read() {
    let request = parse_interaction(BLOCK_ACTIONS.as_bytes()).unwrap();
    let expected = SlackAction {
        team: TEAM.into(),
        channel: CHANNEL.into(),
        user: ANA.into(),
        action_id: "stop".into(),
        value: "0190a3c4-5d6e-7f80-9a1b-2c3d4e5f6a7b".into(),
        message_ts: "1515449530.000100".into(),
        thread_ts: Some(ROOT.into()),
        trigger_id: "1515449840.61087321.6f1e0a2b3c4d5e6f7a8b9c0d1e2f3a4b".into(),
        response_url: Some(
            "https://hooks.slack.com/actions/T061EG9R6/1515449840123/kJ8r2Vq0bY4xH1sT9wZ3nC5d"
                .into(),
        ),
    };
    assert_eq!(request, SlackRequest::Action(expected.clone()));
    assert_eq!(
        request.dedupe_key(),
        Some(delivery(
            "1515449840.61087321.6f1e0a2b3c4d5e6f7a8b9c0d1e2f3a4b"
        ))
    );
    assert_eq!(expected.thread().key(), format!("{TEAM}/{CHANNEL}/{ROOT}"));
}

#[test]
fn a_click_on_allow_is_read_with_its_value() {
    let request = parse_interaction(fixture!("block_actions.permission_allow.txt").as_bytes());
    let SlackRequest::Action(action) = request.unwrap() else {
        panic!("not an action");
    };
    assert_eq!(
        (action.action_id.as_str(), action.value.as_str()),
        ("permission_allow", "0190a3c4-5d6e-7f80-9a1b-2c3d4e5f6a7b:1")
    );
    assert_eq!(
        (action.channel.as_str(), action.thread_ts.as_deref()),
        (CHANNEL, Some(ROOT))
    );
    assert_eq!(
        SlackRequest::Action(action).dedupe_key(),
        Some(delivery(
            "1515449901.61087322.7a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d"
        ))
    );
}

#[test]
fn a_click_falls_back_on_the_message_and_channel_objects() {
    let body = edited_click(|v| {
        let container = v["container"].as_object_mut().unwrap();
        container.remove("thread_ts");
        container.remove("channel_id");
        container.remove("message_ts");
    });
    let SlackRequest::Action(action) = parse_interaction(&body).unwrap() else {
        panic!("not an action");
    };
    assert_eq!(
        (
            action.channel.as_str(),
            action.message_ts.as_str(),
            action.thread_ts.as_deref()
        ),
        (CHANNEL, "1515449530.000100", Some(ROOT))
    );
    // A button on a message that is not in a thread: the message is the thread.
    let body = edited_click(|v| {
        v["container"].as_object_mut().unwrap().remove("thread_ts");
        v["message"].as_object_mut().unwrap().remove("thread_ts");
        v["actions"][0].as_object_mut().unwrap().remove("value");
    });
    let SlackRequest::Action(action) = parse_interaction(&body).unwrap() else {
        panic!("not an action");
    };
    assert_eq!((action.thread_ts, action.value.as_str()), (None, ""));
    // An org-wide install sends no team object: the user's team stands in.
    let body = edited_click(|v| v["team"] = Value::Null);
    let SlackRequest::Action(action) = parse_interaction(&body).unwrap() else {
        panic!("not an action");
    };
    assert_eq!(action.team, TEAM);
}

#[test]
fn other_interactions_are_ignored() {
    let body = edited_click(|v| v["type"] = "view_submission".into());
    assert_eq!(
        parse_interaction(&body).unwrap(),
        SlackRequest::Ignored {
            reason: "view_submission interactions are not handled".into()
        }
    );
    let body =
        edited_click(|v| v["container"] = serde_json::json!({"type": "view", "view_id": "V1"}));
    assert_eq!(
        parse_interaction(&body).unwrap(),
        SlackRequest::Ignored {
            reason: "block_actions in a view are not handled".into()
        }
    );
}

#[test]
fn malformed_interactions_are_refused_with_the_reason() {
    let refusal = |body: &[u8]| parse_interaction(body).unwrap_err().reason().to_owned();
    assert!(refusal(b"token=x&type=block_actions").contains("no `payload` field"));
    assert!(refusal(br#"{"type":"block_actions"}"#).contains("form-encoded"));
    let reason = refusal(b"payload=%7B%22type%22");
    assert!(
        reason.starts_with("the `payload` field is not JSON"),
        "{reason}"
    );
    assert_eq!(
        refusal(b"payload=%5B%5D"),
        "the interaction payload is not a JSON object"
    );
    assert_eq!(
        refusal(&edited_click(|v| {
            v["user"].as_object_mut().unwrap().remove("id");
        })),
        "the block_actions payload is invalid: `user.id` is missing"
    );
    assert_eq!(
        refusal(&edited_click(|v| {
            v.as_object_mut().unwrap().remove("trigger_id");
        })),
        "the block_actions payload is invalid: `trigger_id` is missing"
    );
    assert_eq!(
        refusal(&edited_click(|v| v["actions"] = serde_json::json!([]))),
        "the block_actions payload is invalid: `actions` is empty"
    );
    assert_eq!(
        refusal(&edited_click(|v| {
            v["actions"][0].as_object_mut().unwrap().remove("action_id");
        })),
        "the block_actions payload is invalid: `actions[0].action_id` is missing"
    );
    assert_eq!(
        refusal(&edited_click(|v| {
            v["container"].as_object_mut().unwrap().remove("channel_id");
            v.as_object_mut().unwrap().remove("channel");
        })),
        "the block_actions payload is invalid: `container.channel_id` is missing"
    );
}

#[test]
fn a_slash_command_is_read() {
    let request = parse_command(SLASH_COMMAND.as_bytes()).unwrap();
    assert_eq!(
        request,
        SlackRequest::Command(SlackCommand {
            team: TEAM.into(),
            channel: CHANNEL.into(),
            user: ANA.into(),
            text: "fix the flaky test in acme/widgets & add a test".into(),
            command: "/lucid".into(),
            response_url:
                "https://hooks.slack.com/commands/T061EG9R6/1515449900123/Xq7Lr2d9Pz4Vb8Nc1Tk5Wm0s"
                    .into(),
            trigger_id: "1515449900.61087321.0a1b2c3d4e5f60718293a4b5c6d7e8f9".into(),
        })
    );
    assert_eq!(
        request.dedupe_key(),
        Some(delivery(
            "1515449900.61087321.0a1b2c3d4e5f60718293a4b5c6d7e8f9"
        ))
    );
}

#[test]
fn a_bare_slash_command_has_empty_text() {
    let SlackRequest::Command(command) = parse_command(&command_without("text")).unwrap() else {
        panic!("not a command");
    };
    assert_eq!(command.text, "");
}

#[test]
fn a_slash_command_missing_a_field_is_refused_naming_it() {
    for field in [
        "team_id",
        "channel_id",
        "user_id",
        "command",
        "response_url",
        "trigger_id",
    ] {
        assert_eq!(
            parse_command(&command_without(field)).unwrap_err().reason(),
            format!("the slash command is invalid: `{field}` is missing")
        );
    }
    let reason = parse_command(br#"{"command":"/lucid"}"#).unwrap_err();
    assert!(reason.reason().contains("form-encoded"), "{reason}");
}

#[test]
fn slacks_ssl_check_is_ignored() {
    assert_eq!(
        parse_command(b"ssl_check=1&token=gIkuvaNzQIHg97ATvDxqgjtO").unwrap(),
        SlackRequest::Ignored {
            reason: "an ssl_check".into()
        }
    );
}

#[test]
fn requests_that_start_nothing_have_no_dedupe_key() {
    let verification = parse_events(fixture!("url_verification.json").as_bytes()).unwrap();
    assert_eq!(verification.dedupe_key(), None);
    let ignored = SlackRequest::Ignored { reason: "x".into() };
    assert_eq!(ignored.dedupe_key(), None);
}
