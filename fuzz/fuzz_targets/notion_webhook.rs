//! A Notion webhook request (a verification, or an event), read as the route reads it.
#![no_main]
use libfuzzer_sys::fuzz_target;
use lucid::notion::inbound::{NotionRequest, parse_request};

fuzz_target!(|data: &[u8]| {
    match parse_request(data) {
        Ok(NotionRequest::Event(event)) => {
            let _ = event.authored_by("bot-id");
            let _ = lucid::notion::bare_id(&event.id);
        }
        Ok(NotionRequest::Verification { .. }) => {}
        Err(e) => assert!(!e.reason().is_empty()),
    }
});
