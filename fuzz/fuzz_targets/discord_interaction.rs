//! A Discord interaction (the `/lucid` command, a button), read as the route reads it,
//! then the command's task as the intake reads it.
#![no_main]
use libfuzzer_sys::fuzz_target;
use lucid::discord::inbound::{DiscordRequest, is_stop, parse_interaction, task_text};

fuzz_target!(|data: &[u8]| {
    match parse_interaction(data) {
        Ok(DiscordRequest::Command(command)) => {
            let _ = lucid::core::DeliveryId::parse(&command.id);
            if let Some(repo) = &command.repo {
                let _ = lucid::core::RepoRef::parse(repo.trim());
            }
            if let Some(task) = &command.task {
                let task = task_text(task, Some(42));
                let _ = is_stop(&task);
                lucid_fuzz::intents(&task);
            }
        }
        Ok(DiscordRequest::Button(button)) => {
            let _ = button.custom_id.parse::<lucid::core::SessionId>();
        }
        Ok(DiscordRequest::Ping | DiscordRequest::Ignored(_)) => {}
        Err(e) => assert!(!e.reason().is_empty()),
    }
});
