//! A request from one of Slack's interactive components (a button click): the body as
//! sent (`payload=<URL-encoded JSON>`). When the first byte is odd, the rest is the
//! JSON, encoded here first, so the fuzzer works on the JSON rather than its escaping.
#![no_main]
use libfuzzer_sys::fuzz_target;
use lucid::slack::inbound::{SlackRequest, parse_interaction};
use lucid::slack::outbound::status::parse_permission_value;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let encoded;
    let body = if mode % 2 == 1 {
        encoded = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("payload", &String::from_utf8_lossy(rest))
            .finish();
        encoded.as_bytes()
    } else {
        rest
    };
    let request = match parse_interaction(body) {
        Ok(request) => request,
        Err(e) => {
            assert!(!e.reason().is_empty());
            return;
        }
    };
    let _ = request.dedupe_key();
    if let SlackRequest::Action(action) = request {
        let _ = action.thread().key();
        let _ = parse_permission_value(&action.value);
        let _ = action.value.parse::<lucid::core::SessionId>();
    }
});
