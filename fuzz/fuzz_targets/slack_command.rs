//! A Slack slash command (`/lucid <text>`), form-encoded as Slack sends it, then its
//! text as the intake reads it.
#![no_main]
use libfuzzer_sys::fuzz_target;
use lucid::slack::inbound::{SlackRequest, parse_command, task_text};

fuzz_target!(|data: &[u8]| {
    let request = match parse_command(data) {
        Ok(request) => request,
        Err(e) => {
            assert!(!e.reason().is_empty());
            return;
        }
    };
    let _ = request.dedupe_key();
    if let SlackRequest::Command(command) = request {
        let task = task_text(&command.text, "U0LUCID");
        lucid_fuzz::intents(&task.text);
    }
});
