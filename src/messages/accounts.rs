//! What lucid says about a person's linked forge account ("@lucid login", "@lucid
//! logout"), and why a request that needs one is refused. The login code is said
//! only where only the person sees it.

use super::Text;
use crate::core::RepoRef;

/// The device flow's code and where to enter it, said only to the person.
pub fn login_code(forge: &str, user_code: &str, verification_uri: &str, minutes: u64) -> Text {
    Text::new()
        .emoji("link")
        .plain(format!(" To link your {forge} account, open "))
        .link(verification_uri, verification_uri)
        .plain(" and enter the code ")
        .code(user_code)
        .plain(format!(
            " within {}. Only you see this message.",
            minutes_words(minutes)
        ))
}

fn minutes_words(minutes: u64) -> String {
    match minutes {
        1 => "1 minute".to_owned(),
        n => format!("{n} minutes"),
    }
}

/// The account is linked.
pub fn linked(forge: &str, login: &str) -> Text {
    Text::new()
        .emoji("white_check_mark")
        .plain(" Linked: you are ")
        .code(login)
        .plain(format!(
            " on {forge}. Your requests are checked and credited as that account; say "
        ))
        .code("logout")
        .plain(" to me to unlink it.")
}

/// The code was not entered in time.
pub fn login_expired(forge: &str) -> Text {
    Text::new()
        .plain(format!(
            "The {forge} code expired before it was entered, so nothing was linked. Say "
        ))
        .code("login")
        .plain(" to me for a new one.")
}

/// The person said no on the forge.
pub fn login_denied(forge: &str) -> Text {
    Text::new().plain(format!("You declined on {forge}, so nothing was linked."))
}

/// The forge answered the device flow in a way lucid could not use.
pub fn login_failed(forge: &str, why: &str) -> Text {
    Text::new()
        .plain(format!("I could not link your {forge} account: "))
        .plain(super::shorten(why, 300))
        .plain(". Say ")
        .code("login")
        .plain(" to me to try again.")
}

/// Where a login or logout asked for with a command is answered (Discord).
pub fn answered_in_direct_message() -> Text {
    Text::new().plain("I answer you in a direct message.")
}

/// The linked account and its token are forgotten.
pub fn logged_out(forge: &str) -> Text {
    Text::new().plain(format!(
        "Unlinked: I deleted your {forge} account's token and no longer act as it."
    ))
}

/// A logout with no account linked.
pub fn nothing_to_log_out(forge: &str) -> Text {
    Text::new().plain(format!("No {forge} account is linked to you here."))
}

/// A login where lucid can say nothing privately (the code must not be public).
pub fn login_not_private(forge: &str) -> Text {
    Text::new().plain(format!(
        "I link {forge} accounts only where I can answer you privately (Slack, Discord), so \
         the code is seen by no one else; I cannot here."
    ))
}

/// Linking is not set up on this lucid, and what it lacks.
pub fn linking_off(missing: &str) -> Text {
    Text::new()
        .plain("Linking accounts is not set up on this lucid: ")
        .code(missing)
        .plain(" is not set.")
}

/// Too many logins wait for their code to be entered.
pub fn too_many_logins() -> Text {
    Text::new().plain("Too many people are linking accounts right now; ask again in a few minutes.")
}

/// Why a request that needs a linked account was refused (the thread's refusal).
pub fn not_linked(to: Text, forge: &str) -> Text {
    to.plain(format!(
        "Here I take requests only from people whose linked {forge} account can write to the \
         repository. Link yours first: say "
    ))
    .code("login")
    .plain(" to me (I answer only you).")
}

pub fn link_expired(to: Text, forge: &str) -> Text {
    to.plain(format!(
        "{forge} no longer accepts your linked account's token. Say "
    ))
    .code("login")
    .plain(" to me to link it again.")
}

pub fn link_unreadable(to: Text) -> Text {
    to.plain(
        "I cannot open your linked account: it was stored under another LUCID_SECRET_KEY than \
         the one I run with now. Say ",
    )
    .code("login")
    .plain(" to me to link it again.")
}

pub fn linked_cannot_write(to: Text, repo: &RepoRef, forge: &str, login: &str) -> Text {
    to.plain(format!("Your linked {forge} account "))
        .code(login)
        .plain(" cannot write to ")
        .code(repo.to_string())
        .plain(", so I did nothing.")
}

/// Every message here with example values, for the snapshot.
#[cfg(test)]
fn catalogue(who: &crate::core::Author) -> Vec<(&'static str, Text)> {
    let to = || Text::new().mention(who).plain(" ");
    let repo = RepoRef::parse("acme/app").expect("a repository name");
    vec![
        (
            "login code",
            login_code("GitHub", "WDJB-MJHT", "https://github.com/login/device", 15),
        ),
        ("linked", linked("GitHub", "ada")),
        ("login expired", login_expired("GitHub")),
        ("login denied", login_denied("GitHub")),
        (
            "login failed",
            login_failed("GitHub", "GitHub answered 404: Not Found"),
        ),
        ("answered in a direct message", answered_in_direct_message()),
        ("logged out", logged_out("GitHub")),
        ("nothing to log out", nothing_to_log_out("GitHub")),
        ("login not private", login_not_private("GitHub")),
        ("linking off", linking_off("LUCID_GITHUB_CLIENT_ID")),
        ("too many logins", too_many_logins()),
        ("refusal: not linked", not_linked(to(), "GitHub")),
        ("refusal: link expired", link_expired(to(), "GitHub")),
        ("refusal: link unreadable", link_unreadable(to())),
        (
            "refusal: linked cannot write",
            linked_cannot_write(to(), &repo, "GitHub", "ada"),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::PlainWords;
    use crate::messages::examples::ada;

    #[test]
    fn what_is_said_about_linked_accounts() {
        let all = catalogue(&ada())
            .into_iter()
            .map(|(name, text)| format!("## {name}\n{}\n", text.render(&PlainWords)))
            .collect::<Vec<_>>()
            .join("\n");
        insta::assert_snapshot!(all);
    }

    #[test]
    fn the_code_is_code_and_the_address_a_link() {
        let text = login_code("GitHub", "WDJB-MJHT", "https://github.com/login/device", 15);
        assert!(
            text.0
                .contains(&crate::messages::Span::Code("WDJB-MJHT".into()))
        );
        assert!(text.0.iter().any(|s| matches!(
            s,
            crate::messages::Span::Link { url, .. } if url == "https://github.com/login/device"
        )));
    }
}
