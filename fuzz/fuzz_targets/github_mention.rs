//! A mention of the bot in a GitHub comment (`@lucid …`, `@lucid[bot]`, not in code or
//! quotes): the bot's login is the first line, the comment the rest.
#![no_main]
use libfuzzer_sys::fuzz_target;
use lucid::github::inbound::{Mention, mention};

fuzz_target!(|data: &[u8]| {
    let (login, text) = lucid_fuzz::split_line(data);
    let (Ok(login), Ok(text)) = (std::str::from_utf8(login), std::str::from_utf8(text)) else {
        return;
    };
    for login in [login, "lucid"] {
        if let Some(Mention::Task(task)) = mention(text, login) {
            assert!(
                task.len() <= text.len() + 1,
                "the task is longer than the comment"
            );
            lucid_fuzz::intents(&task);
        }
    }
});
