//! What `lucid setup` says: the words of the Slack app lucid describes, and the steps
//! that remain after the manifest or the invite link, printed in a terminal.

/// The words Slack shows for lucid's app and its command.
#[derive(Debug)]
pub struct SlackAppWords {
    pub description: &'static str,
    pub command_description: &'static str,
    pub command_usage_hint: &'static str,
}

pub fn slack_app_words() -> SlackAppWords {
    SlackAppWords {
        description: "Hands coding tasks to an agent in a sandbox, threads its work back and opens a pull request.",
        command_description: "Hand a coding task to lucid",
        command_usage_hint: "<what to do> in owner/repo",
    }
}

/// A public URL Slack or Discord cannot send requests to, said before the steps.
pub fn public_url_unusable(public_url: &str) -> String {
    format!(
        "warning: LUCID_PUBLIC_URL is {public_url}, but the platform only sends requests to an https address it can reach: set LUCID_PUBLIC_URL to lucid's public https address and run this again.\n"
    )
}

/// What remains once the Slack app manifest is printed.
pub fn slack_setup_steps(public_url: &str) -> String {
    format!(
        "\
The manifest above is lucid's Slack app, with every address at {public_url}.
Three clicks remain:
  1. At https://api.slack.com/apps click Create New App, then From a manifest; pick
     your workspace, paste the manifest (YAML) and create the app.
  2. Click Install to Workspace (Basic Information, or OAuth & Permissions), then Allow.
  3. Copy the Bot User OAuth Token (OAuth & Permissions, xoxb-…) into
     LUCID_SLACK_BOT_TOKEN and the Signing Secret (Basic Information, App Credentials)
     into LUCID_SLACK_SIGNING_SECRET; set LUCID_SLACK_TEAMS to your workspace's id (T…).
Then start lucid. If Slack says the events request URL is not verified yet, click
Retry under Event Subscriptions once lucid runs with the signing secret. Invite the
bot to a channel (/invite @lucid) and mention it. `lucid doctor` checks the token and
its scopes with Slack.
"
    )
}

/// What `lucid setup discord` says: the invite link with exactly the permissions lucid
/// uses, named, and the interactions endpoint to paste.
pub fn discord_setup_steps(
    invite_url: &str,
    permissions: &[&str],
    bits: u64,
    interactions_url: &str,
    application_id_known: bool,
) -> String {
    let id_note = if application_id_known {
        ""
    } else {
        "   (Replace <application id> with the id on the application's General Information\n   page, or set LUCID_DISCORD_APPLICATION_ID and run this again.)\n"
    };
    format!(
        "\
1. Invite lucid's bot to your server, with the bot and applications.commands scopes
   and exactly the permissions it uses ({bits}):
   {}
   {invite_url}
{id_note}2. On the application's General Information page, set the Interactions Endpoint URL to
   {interactions_url}
   lucid must be running with LUCID_DISCORD_PUBLIC_KEY set when you save: Discord
   checks the address with signed requests, and with a badly signed one.
3. Copy the bot token (Bot page, Reset Token) into LUCID_DISCORD_BOT_TOKEN and your
   server's id into LUCID_DISCORD_GUILDS. `lucid doctor` checks the token with Discord.
",
        permissions.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_setup_says() {
        let words = slack_app_words();
        insta::assert_snapshot!(format!(
            "{words:#?}\n\n{}\n{}\n{}\n{}",
            public_url_unusable("http://127.0.0.1:8080"),
            slack_setup_steps("https://lucid.example.com"),
            discord_setup_steps(
                "https://discord.com/oauth2/authorize?client_id=42&scope=bot%20applications.commands&permissions=1",
                &["View Channels", "Send Messages"],
                1,
                "https://lucid.example.com/webhooks/discord/interactions",
                true,
            ),
            discord_setup_steps(
                "https://discord.com/oauth2/authorize?client_id=<application id>&scope=bot%20applications.commands&permissions=1",
                &["View Channels"],
                1,
                "https://lucid.example.com/webhooks/discord/interactions",
                false,
            ),
        ));
    }
}
