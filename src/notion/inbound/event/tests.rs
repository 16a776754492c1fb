//! Notion's documented webhook payloads, each with what lucid reads from it.

use super::*;

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/data/notion/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn event(name: &str) -> Event {
    match parse_request(&fixture(name)).unwrap() {
        NotionRequest::Event(event) => event,
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_verification_request_gives_its_token() {
    assert_eq!(
        parse_request(&fixture("webhook.verification.json")).unwrap(),
        NotionRequest::Verification {
            token: "secret_tMrlL1qK5vuQAh1b6cZGhFChZTSYJlce98V0pYn7yBl".into()
        }
    );
}

#[test]
fn a_properties_update_names_its_page_and_who_made_it() {
    assert_eq!(
        event("webhook.page.properties_updated.json"),
        Event {
            id: "1782edd6-a853-4d4a-b02c-9c8c16f28e53".into(),
            kind: EventKind::PropertiesUpdated {
                page: "153104cd-477e-809d-8dc4-ff2d96ae3090".into()
            },
            authors: vec![Actor {
                id: "c7c11cca-1d73-471d-9b6e-bdef51470190".into(),
                kind: ActorKind::Person
            }],
            attempt: 1,
        }
    );
}

#[test]
fn a_comment_names_its_page_whether_on_the_page_or_on_a_block() {
    for (name, comment) in [
        (
            "webhook.comment.created.json",
            "153104cd-477e-80ca-8f75-001d9e2b6839",
        ),
        (
            "webhook.comment.created.block.json",
            "153104cd-477e-8071-b16a-001d9a35ad84",
        ),
    ] {
        assert_eq!(
            event(name).kind,
            EventKind::CommentCreated {
                comment: comment.into(),
                page: "0ef104cd-477e-80e1-8571-cfd10e92339a".into()
            },
            "{name}"
        );
    }
}

#[test]
fn other_events_are_named_and_left_alone() {
    assert_eq!(
        event("webhook.page.content_updated.json").kind,
        EventKind::Other("page.content_updated".into())
    );
}

#[test]
fn lucids_own_writes_are_known_by_their_author() {
    let mut body: serde_json::Value =
        serde_json::from_slice(&fixture("webhook.page.properties_updated.json")).unwrap();
    body["authors"] = serde_json::json!([{"id": "lucid-bot", "type": "bot"}]);
    body["attempt_number"] = 3.into();
    let NotionRequest::Event(event) = parse_request(&serde_json::to_vec(&body).unwrap()).unwrap()
    else {
        panic!("not an event");
    };
    assert!(event.authored_by("lucid-bot"));
    assert!(!event.authored_by("c7c11cca-1d73-471d-9b6e-bdef51470190"));
    assert_eq!(event.authors[0].kind, ActorKind::Bot);
    assert_eq!(event.attempt, 3);
}

#[test]
fn a_malformed_request_says_what_is_wrong() {
    let cases: [(&[u8], &str); 4] = [
        (b"{not json", "not JSON"),
        (br#"{"verification_token": 7}"#, "verification_token"),
        (br#"{"id": "e1", "type": "page.created"}"#, "entity"),
        (
            br#"{"id": "e1", "type": "comment.created", "entity": {"id": "c1", "type": "comment"}}"#,
            "data.page_id",
        ),
    ];
    for (body, reason) in cases {
        let err = parse_request(body).unwrap_err();
        assert!(err.reason().contains(reason), "{reason}: {err}");
    }
}
