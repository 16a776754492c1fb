//! lucid's GitHub App, as tables: each REST route lucid's client calls (spelled as the
//! client spells it) with the permission GitHub asks of an App for it, git's own need,
//! and the webhook events lucid acts on. The manifest `lucid setup github` hands to
//! GitHub asks for exactly these, so the App can do what lucid does and nothing more;
//! the tests below check the tables against the client's code and the events lucid
//! parses.
//!
//! Manifest format: GitHub's "Registering a GitHub App from a manifest". Permissions
//! per route: each REST endpoint's "Fine-grained access tokens" section.

use serde_json::{Map, Value, json};

/// Where GitHub sends the operator back with the code of the App it made.
pub const CALLBACK_PATH: &str = "/setup/github/callback";
/// Where the setup starts.
pub const SETUP_PATH: &str = "/setup/github";

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Access {
    Read,
    Write,
}

impl Access {
    pub fn as_str(self) -> &'static str {
        match self {
            Access::Read => "read",
            Access::Write => "write",
        }
    }
}

/// A REST route lucid's client calls.
#[derive(Clone, Copy, Debug)]
pub struct RestCall {
    /// The path as `outbound/client.rs` writes it.
    pub path: &'static str,
    pub methods: &'static [&'static str],
    /// The repository permission an installation token needs for it; None for the
    /// routes the App calls as itself (with its JWT).
    pub needs: Option<(&'static str, Access)>,
}

const fn call(
    path: &'static str,
    methods: &'static [&'static str],
    needs: Option<(&'static str, Access)>,
) -> RestCall {
    RestCall {
        path,
        methods,
        needs,
    }
}

/// Every route lucid's GitHub client calls.
pub const REST_CALLS: &[RestCall] = &[
    // The App's own calls, to mint a token for one repository.
    call("/repos/{repo}/installation", &["GET"], None),
    call("/app/installations/{}/access_tokens", &["POST"], None),
    // Where to clone from, and who may ask.
    call("/repos/{}", &["GET"], Some(("metadata", Access::Read))),
    call(
        "/repos/{}/collaborators/{login}/permission",
        &["GET"],
        Some(("metadata", Access::Read)),
    ),
    // 👀 on the comment that asked.
    call(
        "/repos/{}/issues/comments/{comment_id}/reactions",
        &["POST"],
        Some(("issues", Access::Write)),
    ),
    call(
        "/repos/{}/pulls/comments/{comment_id}/reactions",
        &["POST"],
        Some(("pull_requests", Access::Write)),
    ),
    // The progress comment, and the earlier comments as context.
    call(
        "/repos/{}/issues/{issue}/comments",
        &["GET", "POST"],
        Some(("issues", Access::Write)),
    ),
    call(
        "/repos/{}/issues/comments/{comment_id}",
        &["PATCH"],
        Some(("issues", Access::Write)),
    ),
    // The pull request.
    call(
        "/repos/{}/pulls",
        &["GET", "POST"],
        Some(("pull_requests", Access::Write)),
    ),
    call(
        "/repos/{}/pulls/{number}",
        &["PATCH"],
        Some(("pull_requests", Access::Write)),
    ),
];

/// git over HTTPS with an installation token: clone, and push the session's branch.
pub const GIT_NEEDS: (&str, Access) = ("contents", Access::Write);

/// A webhook event lucid acts on, and the permission GitHub sends it with.
#[derive(Clone, Copy, Debug)]
pub struct HookEvent {
    pub name: &'static str,
    pub needs: (&'static str, Access),
}

/// The events lucid's webhook acts on: a mention in a comment (issues and pull
/// requests), a review comment, and an issue labelled or assigned to lucid.
pub const EVENTS: &[HookEvent] = &[
    HookEvent {
        name: "issue_comment",
        needs: ("issues", Access::Read),
    },
    HookEvent {
        name: "issues",
        needs: ("issues", Access::Read),
    },
    HookEvent {
        name: "pull_request_review_comment",
        needs: ("pull_requests", Access::Read),
    },
];

/// Every permission the App asks for, each at the most access any use needs.
pub fn permissions() -> Map<String, Value> {
    let mut needs: std::collections::BTreeMap<&str, Access> = Default::default();
    let uses = REST_CALLS
        .iter()
        .filter_map(|c| c.needs)
        .chain([GIT_NEEDS])
        .chain(EVENTS.iter().map(|e| e.needs));
    for (permission, access) in uses {
        let held = needs.entry(permission).or_insert(access);
        *held = (*held).max(access);
    }
    needs
        .into_iter()
        .map(|(permission, access)| (permission.to_owned(), json!(access.as_str())))
        .collect()
}

/// The manifest of lucid's App named `name`, for lucid reached at `public_url`.
pub fn manifest(name: &str, public_url: &str) -> Value {
    let base = public_url.trim_end_matches('/');
    json!({
        "name": name,
        "url": base,
        "description": crate::messages::GITHUB_SETUP_WORDS.app_description,
        "hook_attributes": {
            "url": format!("{base}{}", super::inbound::WEBHOOK_PATH),
            "active": true,
        },
        "redirect_url": format!("{base}{CALLBACK_PATH}"),
        "public": false,
        "default_permissions": permissions(),
        "default_events": EVENTS.iter().map(|e| e.name).collect::<Vec<_>>(),
        "request_oauth_on_install": false,
        "setup_on_update": false,
    })
}

/// Where the manifest is posted: the signed-in person's App settings, or an
/// organization's.
pub fn new_app_url(web_url: &str, org: Option<&str>, state: &str) -> String {
    let web = web_url.trim_end_matches('/');
    let state = url::form_urlencoded::byte_serialize(state.as_bytes()).collect::<String>();
    match org {
        Some(org) => {
            let org = url::form_urlencoded::byte_serialize(org.as_bytes()).collect::<String>();
            format!("{web}/organizations/{org}/settings/apps/new?state={state}")
        }
        None => format!("{web}/settings/apps/new?state={state}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::github::inbound::{GithubEvent, parse};

    /// The paths `outbound/client.rs` calls: every string literal starting with
    /// `/repos/` or `/app/`.
    fn paths_the_client_calls() -> Vec<String> {
        let code = include_str!("outbound/client.rs");
        let mut paths: Vec<String> = code
            .split('"')
            .skip(1)
            .step_by(2)
            .filter(|s| s.starts_with("/repos/") || s.starts_with("/app/"))
            .map(str::to_owned)
            .collect();
        paths.sort();
        paths.dedup();
        paths
    }

    #[test]
    fn every_route_the_client_calls_has_its_permission_and_no_other_is_listed() {
        let mut listed: Vec<String> = REST_CALLS.iter().map(|c| c.path.to_owned()).collect();
        listed.sort();
        assert_eq!(paths_the_client_calls(), listed);
    }

    #[test]
    fn the_manifest_asks_exactly_what_lucid_uses() {
        let manifest = manifest("lucid-acme", "https://lucid.example.com/");
        assert_eq!(
            manifest["default_permissions"],
            json!({
                "contents": "write",
                "issues": "write",
                "metadata": "read",
                "pull_requests": "write",
            })
        );
        assert_eq!(
            manifest["default_events"],
            json!(["issue_comment", "issues", "pull_request_review_comment"])
        );
        assert_eq!(
            manifest["hook_attributes"]["url"],
            "https://lucid.example.com/webhooks/github"
        );
        assert_eq!(
            manifest["redirect_url"],
            "https://lucid.example.com/setup/github/callback"
        );
        assert_eq!(manifest["public"], false);
    }

    /// Each recorded delivery lucid acts on is of an event the App subscribes to, and
    /// each subscribed event brings deliveries lucid acts on.
    #[test]
    fn the_events_are_those_lucid_acts_on() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/github");
        let mut acted_on = std::collections::BTreeSet::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let file = path.file_name().unwrap().to_string_lossy().into_owned();
            let Some(event) = file.strip_suffix(".payload.json") else {
                continue;
            };
            let event = event.split('.').next().unwrap();
            let parsed = parse(event, &std::fs::read(&path).unwrap()).unwrap();
            if !matches!(parsed, GithubEvent::Ignored { .. } | GithubEvent::Ping) {
                acted_on.insert(event.to_owned());
            }
        }
        let subscribed: std::collections::BTreeSet<String> =
            EVENTS.iter().map(|e| e.name.to_owned()).collect();
        assert_eq!(acted_on, subscribed);
    }

    #[test]
    fn the_form_goes_to_the_person_or_the_organization() {
        assert_eq!(
            new_app_url("https://github.com/", None, "s t"),
            "https://github.com/settings/apps/new?state=s+t"
        );
        assert_eq!(
            new_app_url("https://ghe.example.com", Some("acme"), "abc"),
            "https://ghe.example.com/organizations/acme/settings/apps/new?state=abc"
        );
    }
}
