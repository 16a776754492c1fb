//! What `lucid setup github` and its pages say: the steps printed in a terminal, the
//! page with the App's manifest, the page GitHub sends the operator back to, and why a
//! setup is refused. Also what a thread or a delivery hears while GitHub is not
//! connected yet.

/// Fixed words of the setup page, one field each, so the template names what it shows.
#[derive(Debug)]
pub struct GithubSetupWords {
    pub title: &'static str,
    pub heading: &'static str,
    pub why: &'static str,
    pub permissions: &'static str,
    pub events: &'static str,
    pub webhook: &'static str,
    pub create: &'static str,
    pub after: &'static str,
    pub done_heading: &'static str,
    /// The description GitHub shows on the App's page.
    pub app_description: &'static str,
}

pub static GITHUB_SETUP_WORDS: GithubSetupWords = GithubSetupWords {
    title: "Connect GitHub",
    heading: "Make lucid's GitHub App",
    why: "GitHub makes the App from this manifest: exactly the permissions and events lucid uses, and its webhook at this lucid. GitHub lets you change the name before it makes the App; lucid then keeps the App's id, private key and webhook secret sealed in its store and uses them at once.",
    permissions: "Permissions",
    events: "Events",
    webhook: "Webhook",
    create: "Create the App on GitHub",
    after: "Then install the App on the repositories lucid may work on; GitHub shows the way.",
    done_heading: "GitHub is connected",
    app_description: "Hands coding tasks to an agent in a sandbox, threads its work back and opens a pull request.",
};

/// What a session, a thread or a delivery is told while GitHub is not connected.
pub fn github_not_connected() -> String {
    "GitHub is not connected yet: make lucid's GitHub App from its page /setup/github (`lucid setup github` prints the address), or set LUCID_GITHUB_TOKEN or a GitHub App's settings.".to_owned()
}

/// Where the setup page finds GitHub connected already.
pub fn github_connected_now(by_settings: Option<&str>, stored_app: Option<&str>) -> String {
    match (by_settings, stored_app) {
        (Some(settings), _) => format!(
            "GitHub is connected by the settings ({settings}), and they win: an App made here is kept in the store, but used only once those settings are removed."
        ),
        (None, Some(app)) => format!(
            "GitHub is connected through the App {app}, made here before. A new App replaces it."
        ),
        (None, None) => "GitHub is not connected yet.".to_owned(),
    }
}

/// The page GitHub sends the operator back to, once the App is made and kept.
pub fn github_app_made(app: &str, install_url: &str, by_settings: Option<&str>) -> String {
    match by_settings {
        None => format!(
            "The GitHub App {app} is made, its keys are sealed in lucid's store, and lucid uses it now. Install it on the repositories lucid may work on: {install_url}, then mention @{app} in an issue."
        ),
        Some(settings) => format!(
            "The GitHub App {app} is made and its keys are sealed in lucid's store, but the settings ({settings}) still connect GitHub: remove them and restart lucid to use the App. Install it on the repositories lucid may work on: {install_url}"
        ),
    }
}

/// Why a return from GitHub is refused.
#[derive(Clone, Copy, Debug)]
pub enum GithubSetupRefusal {
    /// The `state` is not one lucid gave out, has expired, or was used already.
    UnknownState,
    /// GitHub does not know the code (a code works once, within an hour).
    CodeUnknown,
    /// The address is not a return from GitHub (no code or state).
    NotAReturn,
}

pub fn github_setup_refused(why: GithubSetupRefusal) -> String {
    match why {
        GithubSetupRefusal::UnknownState => "This return from GitHub does not match a setup lucid started, or that setup is finished or expired (after an hour). Start again at /setup/github.",
        GithubSetupRefusal::CodeUnknown => "GitHub no longer knows this code: a code works once, within an hour. Start again at /setup/github (delete the App GitHub made, if it made one, in its settings).",
        GithubSetupRefusal::NotAReturn => "This address is where GitHub sends you back with a code; open /setup/github to start.",
    }
    .to_owned()
}

/// GitHub could not be asked, or answered what lucid cannot use.
pub fn github_setup_failed(reason: &str) -> String {
    format!("lucid could not finish the App with GitHub: {reason}. Reload this page to try again.")
}

/// Why the setup cannot be served at all.
pub fn github_setup_needs_key() -> String {
    "The GitHub App's keys are sealed with LUCID_SECRET_KEY, which is not set: set it (`openssl rand -base64 32`) for `lucid serve`, restart it, and start the setup again.".to_owned()
}

/// What `lucid setup github` prints around the address to open.
pub fn github_setup_steps(setup_url: &str, can_sign_in: bool, by_settings: Option<&str>) -> String {
    let sign_in = if can_sign_in {
        "Sign in with the API token or the UI password if asked,"
    } else {
        "The page needs signing in: first set LUCID_API_TOKEN or LUCID_UI_PASSWORD,"
    };
    let settings_note = match by_settings {
        Some(settings) => format!(
            "Note: the settings ({settings}) connect GitHub now and win over an App made this way.\n"
        ),
        None => String::new(),
    };
    format!(
        "\
{settings_note}With lucid running (`lucid serve`, with LUCID_SECRET_KEY set):
  1. Open {setup_url}
     {sign_in}
     then click Create the App on GitHub.
  2. On GitHub, check the name and click Create GitHub App. GitHub sends you back to
     lucid, which keeps the App's id, private key and webhook secret sealed in its
     store and uses them at once, without a restart.
  3. Install the App on the repositories lucid may work on (the page links GitHub's
     installation page), then mention the App (@its-name) in an issue.
"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_the_github_setup_says() {
        insta::assert_snapshot!(
            [
                format!("{GITHUB_SETUP_WORDS:#?}"),
                github_not_connected(),
                github_connected_now(Some("LUCID_GITHUB_TOKEN"), None),
                github_connected_now(None, Some("lucid-acme")),
                github_connected_now(None, None),
                github_app_made(
                    "lucid-acme",
                    "https://github.com/apps/lucid-acme/installations/new",
                    None
                ),
                github_app_made(
                    "lucid-acme",
                    "https://github.com/apps/lucid-acme/installations/new",
                    Some("LUCID_GITHUB_TOKEN")
                ),
                github_setup_refused(GithubSetupRefusal::UnknownState),
                github_setup_refused(GithubSetupRefusal::CodeUnknown),
                github_setup_refused(GithubSetupRefusal::NotAReturn),
                github_setup_failed("GitHub could not be reached"),
                github_setup_needs_key(),
                github_setup_steps("https://lucid.example.com/setup/github", true, None),
                github_setup_steps(
                    "https://lucid.example.com/setup/github?org=acme",
                    false,
                    Some("LUCID_GITHUB_TOKEN")
                ),
            ]
            .join("\n\n")
        );
    }
}
