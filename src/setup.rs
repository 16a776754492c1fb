//! `lucid setup slack`, `lucid setup discord` and `lucid setup github`: what to paste
//! into each platform so it reaches this lucid, worked out from lucid's own tables (the
//! Slack app's methods, events and routes; the Discord bot's permissions) and
//! `LUCID_PUBLIC_URL`; for GitHub, the address of lucid's page that has GitHub make
//! the App from its manifest.

use crate::messages;

/// What a setup command prints: the thing to paste on stdout (so it can be redirected
/// into a file), the steps around it on stderr.
#[derive(Debug)]
pub struct Printed {
    pub stdout: String,
    pub stderr: String,
}

/// Whether a platform can send requests to `public_url`: https, and not loopback.
fn reachable_from_outside(public_url: &str) -> bool {
    let Ok(url) = url::Url::parse(public_url) else {
        return false;
    };
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback() || ip.is_unspecified(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback() || ip.is_unspecified(),
        None => true,
    };
    url.scheme() == "https" && !loopback
}

fn warning(public_url: &str) -> String {
    if reachable_from_outside(public_url) {
        String::new()
    } else {
        messages::public_url_unusable(public_url)
    }
}

/// The Slack app manifest for lucid at `public_url`, and the clicks that remain.
pub fn slack(public_url: &str) -> Printed {
    Printed {
        stdout: crate::slack::manifest::manifest_yaml(public_url),
        stderr: format!(
            "{}{}",
            warning(public_url),
            messages::slack_setup_steps(public_url.trim_end_matches('/'))
        ),
    }
}

/// The Discord invite link (with the application's id when known) and the
/// interactions endpoint for lucid at `public_url`.
pub fn discord(public_url: &str, application_id: Option<&str>) -> Printed {
    let invite = crate::discord::invite_url(application_id.unwrap_or("<application id>"));
    let names: Vec<&str> = crate::discord::PERMISSIONS
        .iter()
        .map(|(_, name)| *name)
        .collect();
    let interactions = format!(
        "{}{}",
        public_url.trim_end_matches('/'),
        crate::discord::INTERACTIONS_PATH
    );
    Printed {
        stdout: format!("{invite}\n"),
        stderr: format!(
            "{}{}",
            warning(public_url),
            messages::discord_setup_steps(
                &invite,
                &names,
                crate::discord::permissions().bits(),
                &interactions,
                application_id.is_some(),
            )
        ),
    }
}

/// The address of lucid's GitHub App setup page (with the App's name and the
/// organization, when given) and the steps around it; the missing secret key first.
pub fn github(
    settings: &crate::config::Settings,
    org: Option<&str>,
    name: Option<&str>,
) -> Printed {
    let mut url = url::Url::parse(&format!(
        "{}{}",
        settings.public_url.trim_end_matches('/'),
        crate::github::app_manifest::SETUP_PATH
    ))
    .expect("the public URL is a URL");
    for (key, value) in [("name", name), ("org", org)] {
        if let Some(value) = value {
            url.query_pairs_mut().append_pair(key, value);
        }
    }
    let needs_key = match settings.secret_key {
        Some(_) => String::new(),
        None => format!("warning: {}\n", messages::github_setup_needs_key()),
    };
    let can_sign_in = settings.api_token.is_some() || settings.ui_password.is_some();
    Printed {
        stdout: format!("{url}\n"),
        stderr: format!(
            "{needs_key}{}{}",
            warning(&settings.public_url),
            messages::github_setup_steps(
                url.as_str(),
                can_sign_in,
                crate::github::connected_by_settings(settings)
            )
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_https_address_off_this_machine_is_reachable() {
        assert!(reachable_from_outside("https://lucid.example.com"));
        assert!(reachable_from_outside(
            "https://lucid.example.com:8443/base/"
        ));
        assert!(!reachable_from_outside("http://lucid.example.com"));
        assert!(!reachable_from_outside("https://127.0.0.1:8080"));
        assert!(!reachable_from_outside("https://localhost"));
        assert!(!reachable_from_outside("http://0.0.0.0:8080"));
        assert!(
            slack("https://lucid.example.com")
                .stderr
                .starts_with("The manifest")
        );
        assert!(
            slack("http://127.0.0.1:8080")
                .stderr
                .starts_with("warning:")
        );
    }
}
