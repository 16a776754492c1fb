//! A Discord message's content as the task it gives (the bot's `<@id>` and `<@!id>`
//! taken out): the bot's id is the first 8 bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;
use lucid::discord::inbound::{is_stop, task_text};

fuzz_target!(|data: &[u8]| {
    if data.len() < 8 {
        return;
    }
    let (id, text) = data.split_at(8);
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    let id = u64::from_le_bytes(id.try_into().unwrap());
    for bot in [Some(id), Some(42), None] {
        let task = task_text(text, bot);
        assert!(task.len() <= text.len());
        let _ = is_stop(&task);
        lucid_fuzz::intents(&task);
    }
});
