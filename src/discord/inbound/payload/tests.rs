//! Discord's documented payloads, each with what lucid reads from it.

use super::*;

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/data/discord/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn a_ping_is_a_ping() {
    assert_eq!(
        parse_interaction(&fixture("interaction.ping.json")).unwrap(),
        DiscordRequest::Ping
    );
}

#[test]
fn a_slash_command_gives_its_options_and_who_typed_it() {
    let parsed = parse_interaction(&fixture("interaction.application_command.json"));
    let DiscordRequest::Command(command) = parsed.unwrap() else {
        panic!("not a command");
    };
    assert_eq!(command.id, "786008729715212338");
    assert_eq!(command.token, "A_UNIQUE_TOKEN");
    assert_eq!(command.name, "cardsearch");
    assert_eq!(command.guild.as_deref(), Some("290926798626357999"));
    assert_eq!(command.channel, "645027906669510667");
    assert_eq!(command.thread_parent, None);
    assert_eq!(
        command.person,
        Person {
            id: "53908232506183680".into(),
            name: "Mason".into(),
            roles: vec!["539082325061836999".into()],
        }
    );
    // The documented command has a `cardname` option, not lucid's.
    assert_eq!(command.task, None);
    assert_eq!(command.repo, None);
}

#[test]
fn lucids_options_are_read_by_name() {
    let mut body: serde_json::Value =
        serde_json::from_slice(&fixture("interaction.application_command.json")).unwrap();
    body["data"]["name"] = "lucid".into();
    body["data"]["options"] = serde_json::json!([
        {"type": 3, "name": "task", "value": "fix add()"},
        {"type": 3, "name": "repo", "value": "acme/calc"}
    ]);
    let DiscordRequest::Command(command) =
        parse_interaction(&serde_json::to_vec(&body).unwrap()).unwrap()
    else {
        panic!("not a command");
    };
    assert_eq!(command.task.as_deref(), Some("fix add()"));
    assert_eq!(command.repo.as_deref(), Some("acme/calc"));
}

#[test]
fn a_button_click_names_the_button_its_message_and_who_pressed_it() {
    let parsed = parse_interaction(&fixture("interaction.message_component.button.json"));
    let DiscordRequest::Button(button) = parsed.unwrap() else {
        panic!("not a button");
    };
    assert_eq!(button.custom_id, "hello");
    assert!(!button.id.is_empty() && !button.message.is_empty());
    assert!(!button.person.id.is_empty());
    assert!(button.guild.is_some());
}

#[test]
fn a_malformed_interaction_names_what_is_wrong() {
    let error = parse_interaction(br#"{"type": "two", "id": "1"}"#).unwrap_err();
    assert!(error.reason().contains("at type"), "{error}");
    let error = parse_interaction(br#"{"type": 2, "id": "1", "token": "t"}"#).unwrap_err();
    assert_eq!(error.reason(), "an interaction without member or user");
    assert!(parse_interaction(b"not json").is_err());
}
