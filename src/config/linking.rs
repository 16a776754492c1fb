//! Linked accounts: whether requests from chat platforms need the person's own forge
//! account (linked with "@lucid login"), and the GitHub app people link it through.

use super::reader::Reader;

#[derive(Clone, Debug, Default)]
pub struct LinkingSettings {
    /// A chat request on a repository starts or steers work only for a person whose
    /// linked account may write to it.
    pub required: bool,
    /// The client id of the GitHub App (or OAuth App) whose device flow links an
    /// account; none: nobody can link one.
    pub github_client_id: Option<String>,
}

/// `has_key`: whether LUCID_SECRET_KEY is set (linked accounts are sealed with it).
pub(super) fn read(r: &mut Reader, has_key: bool) -> Option<LinkingSettings> {
    let required = r.parsed("LUCID_REQUIRE_LINKED_ACCOUNT", |s| match s {
        "on" | "true" => Ok(true),
        "off" | "false" => Ok(false),
        other => Err(format!("{other:?} is neither on nor off")),
    });
    let github_client_id = r.text("LUCID_GITHUB_CLIENT_ID").filter(|s| !s.is_empty());
    if required == Some(true) {
        let mut missing = |env: &str| {
            r.problem(
                env,
                "missing: LUCID_REQUIRE_LINKED_ACCOUNT is on, and nobody could link an account without it",
            )
        };
        match (&github_client_id, has_key) {
            (Some(_), true) => {}
            (None, _) => {
                missing("LUCID_GITHUB_CLIENT_ID");
                return None;
            }
            (_, false) => {
                missing("LUCID_SECRET_KEY");
                return None;
            }
        }
    }
    Some(LinkingSettings {
        required: required?,
        github_client_id,
    })
}
