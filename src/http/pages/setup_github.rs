//! `/setup/github`: the page a signed-in operator makes lucid's GitHub App from (a form
//! that posts lucid's manifest to GitHub), and `/setup/github/callback`, where GitHub
//! sends them back with the code of the App it made. The return is a cross-site
//! navigation without the sign-in cookie; the setup's one-time `state` guards it.

use super::viewer::{Chrome, Refusal, render, signed_in};
use crate::github::{ManifestForm, SetupError};
use crate::http::AppState;
use crate::messages::page::{PageWords, WORDS, tab_title};
use crate::messages::{GITHUB_SETUP_WORDS, GithubSetupRefusal, GithubSetupWords};
use askama::Template;
use axum::extract::{OriginalUri, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

/// The App's name unless the page is given another; GitHub lets it be changed too.
const DEFAULT_NAME: &str = "lucid";
/// GitHub's longest App name.
const MAX_NAME: usize = 34;

#[derive(Template)]
#[template(path = "setup_github.html")]
struct SetupPage {
    w: &'static PageWords,
    g: &'static GithubSetupWords,
    chrome: Chrome,
    title: String,
    form: ManifestForm,
}

#[derive(Template)]
#[template(path = "setup_github_done.html")]
struct DonePage<'a> {
    w: &'static PageWords,
    g: &'static GithubSetupWords,
    chrome: Chrome,
    title: String,
    note: &'a str,
    install_url: &'a str,
}

#[derive(Deserialize)]
pub(super) struct SetupQuery {
    name: Option<String>,
    org: Option<String>,
}

pub(super) async fn page(
    State(state): State<AppState>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
    Query(query): Query<SetupQuery>,
) -> Result<Response, Refusal> {
    let Some(cookie) = signed_in(&state, &headers) else {
        let back_to = uri
            .path_and_query()
            .map_or(crate::github::app_manifest::SETUP_PATH, |p| p.as_str());
        return Err(Refusal::SignIn {
            back_to: back_to.to_owned(),
        });
    };
    let setup = state.github_setup.clone().ok_or_else(needs_key)?;
    let name = match query.name.as_deref().map(str::trim) {
        None | Some("") => DEFAULT_NAME,
        Some(name) => name,
    };
    let org = query
        .org
        .as_deref()
        .map(str::trim)
        .filter(|o| !o.is_empty());
    if name.chars().count() > MAX_NAME
        || org.is_some_and(|o| !o.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
    {
        return Err(Refusal::Bad(
            StatusCode::BAD_REQUEST,
            WORDS.bad_form.to_owned(),
        ));
    }
    let form = setup.begin(name, org).await?;
    let origin = form.github_origin.clone();
    let page = SetupPage {
        w: &WORDS,
        g: &GITHUB_SETUP_WORDS,
        chrome: Chrome::signed_in(&state, &cookie),
        title: tab_title(GITHUB_SETUP_WORDS.title),
        form,
    };
    let mut response = render(&page).into_response();
    allow_posting_to(&mut response, &origin);
    Ok(response)
}

/// The pages' policy, with GitHub's origin the one other place the form may post to.
fn allow_posting_to(response: &mut Response, origin: &str) {
    let policy = super::CONTENT_SECURITY_POLICY.replace(
        "form-action 'self'",
        &format!("form-action 'self' {origin}"),
    );
    if let Ok(value) = HeaderValue::from_str(&policy) {
        response
            .headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, value);
    }
}

#[derive(Deserialize)]
pub(super) struct Return {
    code: Option<String>,
    state: Option<String>,
}

pub(super) async fn callback(
    State(state): State<AppState>,
    Query(back): Query<Return>,
) -> Result<Response, Refusal> {
    let setup = state.github_setup.clone().ok_or_else(needs_key)?;
    let (Some(code), Some(setup_state)) = (back.code, back.state) else {
        return Err(refused(GithubSetupRefusal::NotAReturn));
    };
    let made = match setup.finish(&code, &setup_state).await {
        Ok(made) => made,
        Err(SetupError::Refused(why)) => return Err(refused(why)),
        Err(SetupError::Failed(reason)) => {
            return Err(Refusal::Bad(
                StatusCode::BAD_GATEWAY,
                crate::messages::github_setup_failed(&reason),
            ));
        }
        Err(SetupError::Store(e)) => return Err(e.into()),
    };
    // /readyz shows what GitHub says of the new App now, not at the next round.
    state.platforms.ask_again();
    let note = crate::messages::github_app_made(&made.slug, &made.install_url, made.by_settings);
    Ok(render(&DonePage {
        w: &WORDS,
        g: &GITHUB_SETUP_WORDS,
        chrome: Chrome::default(),
        title: tab_title(GITHUB_SETUP_WORDS.done_heading),
        note: &note,
        install_url: &made.install_url,
    })
    .into_response())
}

fn refused(why: GithubSetupRefusal) -> Refusal {
    Refusal::Bad(
        StatusCode::BAD_REQUEST,
        crate::messages::github_setup_refused(why),
    )
}

fn needs_key() -> Refusal {
    Refusal::Bad(
        StatusCode::CONFLICT,
        crate::messages::github_setup_needs_key(),
    )
}
