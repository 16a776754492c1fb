//! What a Discord message asks for: its text without the bot's mentions.

/// The message's text with every mention of the bot (`<@id>`, `<@!id>`) taken out.
pub fn task_text(content: &str, bot: Option<u64>) -> String {
    let Some(bot) = bot else {
        return content.trim().to_owned();
    };
    content
        .replace(&format!("<@{bot}>"), " ")
        .replace(&format!("<@!{bot}>"), " ")
        .trim()
        .to_owned()
}

pub use crate::core::intent::is_stop;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bots_mentions_are_taken_out() {
        assert_eq!(
            task_text("<@42> fix <@7> in acme/app <@!42>", Some(42)),
            "fix <@7> in acme/app"
        );
        assert_eq!(task_text("  hi ", None), "hi");
    }

    #[test]
    fn stop_is_one_word() {
        assert!(is_stop("stop"));
        assert!(is_stop(" Stop! "));
        assert!(!is_stop("stop the tests from flaking"));
        assert!(!is_stop(""));
    }
}

/// The gateway's documented payloads, as serenity reads them for the handler.
#[cfg(test)]
mod gateway_payloads {
    use super::*;
    use serenity::all::{Message, Ready};

    fn fixture(name: &str) -> serde_json::Value {
        let path = format!("{}/tests/data/discord/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap()
    }

    #[test]
    fn a_mention_names_the_bot_and_its_task() {
        let message: Message =
            serde_json::from_value(fixture("gateway.message_create.mention.d.json")).unwrap();
        let bot = 1_457_469_483_726_668_048;
        assert!(message.mentions.iter().any(|u| u.id.get() == bot));
        assert!(!message.author.bot);
        assert_eq!(message.guild_id.unwrap().get(), 1_457_468_924_290_662_599);
        assert_eq!(message.channel_id.get(), 1_457_510_428_359_004_343);
        assert_eq!(task_text(&message.content, Some(bot)), "Hey");
        assert!(message.member.is_some());
    }

    #[test]
    fn a_message_without_a_mention_mentions_no_one() {
        let frame = fixture("gateway.message_create.json");
        assert_eq!(frame["t"], "MESSAGE_CREATE");
        let message: Message = serde_json::from_value(frame["d"].clone()).unwrap();
        assert!(message.mentions.is_empty());
        assert_eq!(message.guild_id.unwrap().get(), 439_103_874_612_675_485);
    }

    #[test]
    fn ready_says_who_the_bot_is() {
        let frame = fixture("gateway.ready.json");
        let ready: Ready = serde_json::from_value(frame["d"].clone()).unwrap();
        assert_eq!(ready.user.id.get(), 1_030_118_727_418_646_629);
        assert_eq!(ready.guilds.len(), 2);
        assert_eq!(
            fixture("gateway.hello.json")["d"]["heartbeat_interval"],
            45_000
        );
    }
}
