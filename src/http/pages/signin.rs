//! Signing in with the API token or the UI password: a signed, HttpOnly,
//! SameSite=Strict cookie; signing out drops it.

use super::viewer::{COOKIE, Chrome, render, signed_in};
use crate::core::Timestamp;
use crate::http::AppState;
use crate::messages::page::{PageWords, WORDS, tab_title};
use crate::web::access::SIGN_IN_FOR_SECS;
use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;

#[derive(Template)]
#[template(path = "signin.html")]
pub(super) struct SignInPage<'a> {
    w: &'static PageWords,
    chrome: Chrome,
    title: String,
    next: &'a str,
    note: Option<&'a str>,
    can_sign_in: bool,
}

impl<'a> SignInPage<'a> {
    pub(super) fn new(next: &'a str, note: Option<&'a str>) -> Self {
        Self {
            w: &WORDS,
            chrome: Chrome::default(),
            title: tab_title(WORDS.sign_in),
            next,
            note,
            can_sign_in: true,
        }
    }

    pub(super) fn html(&self) -> Html<String> {
        render(self)
    }
}

#[derive(Deserialize)]
pub(super) struct Next {
    next: Option<String>,
}

/// Where to go after signing in: a path of this lucid, never another site.
pub(super) fn local_path(next: Option<&str>) -> &str {
    match next {
        Some(path) if path.starts_with('/') && !path.starts_with("//") && !path.contains('\\') => {
            path
        }
        _ => "/",
    }
}

pub(super) async fn page(State(state): State<AppState>, Query(q): Query<Next>) -> Html<String> {
    let mut page = SignInPage::new(local_path(q.next.as_deref()), None);
    page.can_sign_in = state.links.access().can_sign_in();
    page.html()
}

#[derive(Deserialize)]
pub(super) struct SignIn {
    password: String,
    next: Option<String>,
}

pub(super) async fn submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<SignIn>,
) -> Response {
    let next = local_path(form.next.as_deref()).to_owned();
    let access = state.links.access();
    if !super::forms::same_origin(&state, &headers) || !access.is_password(&form.password) {
        let mut page = SignInPage::new(&next, Some(WORDS.wrong_password));
        page.can_sign_in = access.can_sign_in();
        return (StatusCode::UNAUTHORIZED, page.html()).into_response();
    }
    let Some(cookie) = access.sign_in(Timestamp::now()) else {
        return (
            StatusCode::UNAUTHORIZED,
            SignInPage::new(&next, None).html(),
        )
            .into_response();
    };
    let secure = if state.links.is_https() {
        "; Secure"
    } else {
        ""
    };
    let set = format!(
        "{COOKIE}={cookie}; Path=/; HttpOnly; SameSite=Strict; Max-Age={SIGN_IN_FOR_SECS}{secure}"
    );
    with_cookie(Redirect::to(&next), &set)
}

pub(super) async fn sign_out(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if signed_in(&state, &headers).is_none() || !super::forms::same_origin(&state, &headers) {
        return Redirect::to("/").into_response();
    }
    with_cookie(
        Redirect::to("/signin"),
        &format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
    )
}

fn with_cookie(redirect: Redirect, cookie: &str) -> Response {
    let mut response = redirect.into_response();
    if let Ok(value) = HeaderValue::from_str(cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}
