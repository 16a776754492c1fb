//! Answers to an agent's permission requests. The option is chosen by its kind, never
//! its place in the list: agents order their options as they like.

use agent_client_protocol::v1::schema::{
    PermissionOption, PermissionOptionKind, RequestPermissionOutcome, RequestPermissionResponse,
    SelectedPermissionOutcome,
};

/// The answer that allows, once if the agent offers that, else always; cancelled when
/// the agent offers no way to allow.
pub fn allow(options: &[PermissionOption]) -> RequestPermissionResponse {
    choose(
        options,
        &[
            PermissionOptionKind::AllowOnce,
            PermissionOptionKind::AllowAlways,
        ],
    )
}

/// The answer that rejects, once if offered, else always; cancelled otherwise.
pub fn reject(options: &[PermissionOption]) -> RequestPermissionResponse {
    choose(
        options,
        &[
            PermissionOptionKind::RejectOnce,
            PermissionOptionKind::RejectAlways,
        ],
    )
}

/// The answer to a request nobody will answer any more (the turn is cancelled).
pub fn cancelled() -> RequestPermissionResponse {
    RequestPermissionResponse::new(RequestPermissionOutcome::Cancelled)
}

fn choose(
    options: &[PermissionOption],
    kinds: &[PermissionOptionKind],
) -> RequestPermissionResponse {
    let chosen = kinds
        .iter()
        .find_map(|kind| options.iter().find(|option| option.kind == *kind));
    match chosen {
        Some(option) => RequestPermissionResponse::new(RequestPermissionOutcome::Selected(
            SelectedPermissionOutcome::new(option.option_id.clone()),
        )),
        None => cancelled(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> Vec<PermissionOption> {
        serde_json::from_value(serde_json::json!([
            {"optionId": "no", "name": "Reject", "kind": "reject_once"},
            {"optionId": "always", "name": "Always", "kind": "allow_always"},
            {"optionId": "yes", "name": "Allow", "kind": "allow_once"},
        ]))
        .unwrap()
    }

    fn selected(response: &RequestPermissionResponse) -> Option<String> {
        match &response.outcome {
            RequestPermissionOutcome::Selected(s) => Some(s.option_id.0.to_string()),
            _ => None,
        }
    }

    #[test]
    fn options_are_chosen_by_kind_not_place() {
        assert_eq!(selected(&allow(&options())).as_deref(), Some("yes"));
        assert_eq!(selected(&reject(&options())).as_deref(), Some("no"));
        let only_always = &options()[..2];
        assert_eq!(selected(&allow(only_always)).as_deref(), Some("always"));
        let no_allow = &options()[..1];
        assert_eq!(selected(&allow(no_allow)), None);
    }
}
