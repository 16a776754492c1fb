//! A request of Slack's Events API, read as the route reads it, then the message's
//! task as the intake reads it.
#![no_main]
use libfuzzer_sys::fuzz_target;
use lucid::slack::inbound::{SlackRequest, is_stop, parse_events, task_text};

fuzz_target!(|data: &[u8]| {
    let request = match parse_events(data) {
        Ok(request) => request,
        Err(e) => {
            assert!(!e.reason().is_empty());
            return;
        }
    };
    let _ = request.dedupe_key();
    if let SlackRequest::Message(message) = request {
        let _ = message.thread().key();
        let _ = (
            message.thread_root(),
            message.is_reply(),
            message.is_from_bot(),
        );
        let bot = message.bot_user_id.as_deref().unwrap_or("U0LUCID");
        let task = task_text(&message.text, bot);
        let _ = is_stop(&task.text);
        lucid_fuzz::intents(&task.text);
    }
});
