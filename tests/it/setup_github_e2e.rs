//! `lucid setup github` end to end against the fake GitHub, on a real `lucid serve`
//! started without any GitHub settings: the signed-in operator's page holds lucid's
//! manifest (its permissions, events and addresses); GitHub makes the App and sends
//! the person back with a code; lucid trades it, seals the App in its store, and from
//! that moment verifies deliveries with the App's secret and mints tokens with its key,
//! without a restart. A return with a wrong state, or the same return twice, is
//! refused; after a restart the sealed App still connects GitHub.

use crate::fake_github::ManifestApp;
use crate::harness::{Backend, migrated_store, on_both_stores, within};
use crate::rig::{Lucid, REPO, comment_payload, fixing_script};
use lucid::github::inbound::sign;
use reqwest::header::{CONTENT_SECURITY_POLICY, LOCATION, SET_COOKIE};
use serde_json::{Value, json};

const SECRET_KEY: &str = "c0ffeec0ffeec0ffeec0ffeec0ffeec0ffeec0ffeec0ffeec0ffeec0ffeec0ff";

on_both_stores!(a_kept_credential_is_taken_once_and_a_prefix_removes_only_its_own);
const APP_NAME: &str = "lucid-acme";
const INSTALLATION: u64 = 5151;

/// A client that does not follow redirects and keeps no cookies, as a browser
/// returning cross-site from GitHub sends none (the cookie is SameSite=Strict).
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn sign_in(lucid: &Lucid, http: &reqwest::Client) -> String {
    let answer = http
        .post(format!("{}/signin", lucid.url))
        .form(&[("password", crate::rig::API_TOKEN), ("next", "/")])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 303);
    let set = answer.headers()[SET_COOKIE].to_str().unwrap();
    set.split(';').next().unwrap().to_owned()
}

/// An attribute's value in `html`, after `marker` (`name="manifest" value="`).
fn attribute_after(html: &str, marker: &str) -> String {
    let start = html
        .find(marker)
        .unwrap_or_else(|| panic!("no {marker} in {html}"))
        + marker.len();
    unescape(html[start..].split('"').next().unwrap())
}

fn unescape(text: &str) -> String {
    [
        ("&quot;", "\""),
        ("&#34;", "\""),
        ("&#x22;", "\""),
        ("&#39;", "'"),
        ("&#x27;", "'"),
        ("&lt;", "<"),
        ("&#60;", "<"),
        ("&gt;", ">"),
        ("&#62;", ">"),
        ("&#38;", "&"),
        ("&amp;", "&"),
    ]
    .iter()
    .fold(text.to_owned(), |text, (from, to)| text.replace(from, to))
}

async fn get(http: &reqwest::Client, url: &str, cookie: Option<&str>) -> (u16, String) {
    let mut request = http.get(url);
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    let answer = within("a page", request.send()).await.unwrap();
    (answer.status().as_u16(), answer.text().await.unwrap())
}

/// A delivery of `event` signed with `secret`: its status and answer.
async fn deliver_signed(
    lucid: &Lucid,
    secret: &str,
    event: &str,
    id: &str,
    payload: &Value,
) -> (u16, Value) {
    let body = serde_json::to_vec(payload).unwrap();
    let signature = sign(secret, &body);
    lucid.post(event, id, body, &signature).await
}

/// Whether any of the store's files (the database and its write-ahead log) holds
/// `text` as it is.
fn store_files_hold(lucid: &Lucid, text: &str) -> bool {
    let db = lucid
        .database_url()
        .trim_start_matches("sqlite://")
        .to_owned();
    ["", "-wal", "-shm"].iter().any(|suffix| {
        std::fs::read(format!("{db}{suffix}"))
            .is_ok_and(|bytes| bytes.windows(text.len()).any(|w| w == text.as_bytes()))
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn the_app_made_from_lucids_manifest_connects_github_without_a_restart() {
    let mut lucid =
        Lucid::start_unconnected(fixing_script(), &[("LUCID_SECRET_KEY", SECRET_KEY)]).await;
    // A second replica on the same store, which GitHub never sends anyone back to.
    let replica = lucid.replica().await;
    let http = browser();
    let gh = &lucid.github;
    let asked = format!("@{APP_NAME} please fix add()");
    let comment = gh.add_comment(REPO, 7, "ada", &asked);
    let payload = comment_payload(7, "add() subtracts", comment, "ada", &asked);

    // Not connected: a delivery is refused whatever it is signed with.
    let (status, _) =
        deliver_signed(&lucid, "anything", "issue_comment", "d-early", &payload).await;
    assert_eq!(status, 401);

    // The page is the operator's.
    let setup = format!("{}/setup/github?name={APP_NAME}", lucid.url);
    let (status, html) = get(&http, &setup, None).await;
    assert_eq!(status, 401, "{html}");
    assert!(!html.contains("manifest"), "{html}");
    let cookie = sign_in(&lucid, &http).await;
    let answer = http
        .get(&setup)
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 200);
    let policy = answer.headers()[CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        policy.contains(&format!("form-action 'self' {}", gh.origin)),
        "{policy}"
    );
    let html = answer.text().await.unwrap();
    let action = attribute_after(&html, "id=\"manifest-form\" method=\"post\" action=\"");
    assert!(
        action.starts_with(&format!("{}/settings/apps/new?state=", gh.origin)),
        "{action}"
    );
    let manifest_text = attribute_after(&html, "name=\"manifest\" value=\"");
    let manifest: Value = serde_json::from_str(&manifest_text).unwrap();
    assert_eq!(manifest["name"], APP_NAME);
    assert_eq!(manifest["url"], lucid.url.as_str());
    assert_eq!(
        manifest["hook_attributes"],
        json!({"url": format!("{}/webhooks/github", lucid.url), "active": true})
    );
    assert_eq!(
        manifest["redirect_url"],
        format!("{}/setup/github/callback", lucid.url)
    );
    assert_eq!(
        manifest["default_permissions"],
        json!({"contents": "write", "issues": "write", "metadata": "read", "pull_requests": "write"})
    );
    assert_eq!(
        manifest["default_events"],
        json!(["issue_comment", "issues", "pull_request_review_comment"])
    );
    assert_eq!(manifest["public"], false);

    // The person clicks Create on GitHub; GitHub makes the App and sends them back.
    let made = http
        .post(&action)
        .form(&[("manifest", manifest_text.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(made.status().as_u16(), 302);
    let back = made.headers()[LOCATION].to_str().unwrap().to_owned();
    assert!(
        back.starts_with(&format!("{}/setup/github/callback?code=", lucid.url)),
        "{back}"
    );

    // A return with another state is refused, and leaves the real one usable.
    let forged = url::Url::parse_with_params(
        &format!("{}/setup/github/callback", lucid.url),
        [("code", "0123abcd"), ("state", "not-the-state")],
    )
    .unwrap();
    let (status, html) = get(&http, forged.as_str(), None).await;
    assert_eq!(status, 400);
    assert!(
        html.contains("does not match a setup lucid started"),
        "{html}"
    );

    let (status, html) = get(&http, &back, None).await;
    assert_eq!(status, 200, "{html}");
    let app: ManifestApp = gh.manifest_apps().pop().unwrap();
    assert!(app.converted);
    assert_eq!(app.slug, APP_NAME);
    assert!(
        action.ends_with(&format!("?state={}", app.state)),
        "{action}"
    );
    assert!(
        html.contains(&format!("{}/apps/{APP_NAME}/installations/new", gh.origin)),
        "{html}"
    );

    // Sealed: the key and the secret are nowhere as they are, in the store or the log.
    let key_line = app.pem.lines().nth(1).unwrap().to_owned();
    for secret in [app.webhook_secret.as_str(), key_line.as_str()] {
        assert!(
            !store_files_hold(&lucid, secret),
            "{secret} is in the store"
        );
        assert!(!lucid.log().contains(secret), "{secret} is in the log");
    }
    assert!(!store_files_hold(&lucid, "BEGIN RSA PRIVATE KEY"));

    // The other replica picks the App up from the store, without a restart.
    let ping = json!({"zen": "Keep it logically awesome.", "hook_id": 1});
    let body = serde_json::to_vec(&ping).unwrap();
    within("the replica to take the App", async {
        loop {
            let answer = http
                .post(format!("{}/webhooks/github", replica.url))
                .header("X-GitHub-Event", "ping")
                .header("X-GitHub-Delivery", "d-replica")
                .header("X-Hub-Signature-256", sign(&app.webhook_secret, &body))
                .header("content-type", "application/json")
                .body(body.clone())
                .send()
                .await
                .unwrap();
            if answer.status().as_u16() == 200 {
                return;
            }
            assert_eq!(answer.status().as_u16(), 401);
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    })
    .await;
    drop(replica);

    // The same return again is refused clearly.
    let (status, html) = get(&http, &back, None).await;
    assert_eq!(status, 400);
    assert!(html.contains("that setup is finished or expired"), "{html}");

    // Installed, the App's deliveries start work at once; the old secret is refused.
    gh.install_manifest_app(app.id, INSTALLATION);
    let (status, _) = deliver_signed(
        &lucid,
        crate::rig::SECRET,
        "issue_comment",
        "d-old",
        &payload,
    )
    .await;
    assert_eq!(status, 401);
    let (status, answer) = deliver_signed(
        &lucid,
        &app.webhook_secret,
        "issue_comment",
        "d-app",
        &payload,
    )
    .await;
    assert_eq!(status, 202, "{answer}");
    let id = answer["session"].as_str().unwrap().to_owned();
    lucid
        .until_session(&id, "the session to finish", |s| s["state"] == "completed")
        .await;
    assert_eq!(gh.pulls(REPO).len(), 1);
    let minted_with_the_app = gh.requests().iter().any(|r| {
        r.path == format!("/app/installations/{INSTALLATION}/access_tokens") && r.status == 201
    });
    assert!(minted_with_the_app, "no token was minted with the new App");

    // After a restart, the sealed App still connects GitHub.
    lucid.kill();
    lucid.restart().await;
    let (status, _) = deliver_signed(&lucid, &app.webhook_secret, "ping", "d-ping", &ping).await;
    assert_eq!(status, 200);
    let (status, _) = deliver_signed(&lucid, crate::rig::SECRET, "ping", "d-ping-2", &ping).await;
    assert_eq!(status, 401);
}

/// The App the setup made is the one doctor and `/readyz` ask GitHub about when no
/// setting connects GitHub: its line says where it came from; with another
/// `LUCID_SECRET_KEY` doctor cannot open it and says so, naming the setting and no
/// secret; settings still win over it.
#[tokio::test(flavor = "multi_thread")]
async fn doctor_and_readyz_check_the_app_the_setup_made() {
    use crate::doctor_platforms::{doctor, line};
    let lucid = Lucid::start_unconnected(vec![], &[("LUCID_SECRET_KEY", SECRET_KEY)]).await;
    let gh = &lucid.github;
    let http = browser();
    let cookie = sign_in(&lucid, &http).await;
    let setup = format!("{}/setup/github?name={APP_NAME}", lucid.url);
    let (status, html) = get(&http, &setup, Some(&cookie)).await;
    assert_eq!(status, 200, "{html}");
    let action = attribute_after(&html, "id=\"manifest-form\" method=\"post\" action=\"");
    let manifest = attribute_after(&html, "name=\"manifest\" value=\"");
    let made = http
        .post(&action)
        .form(&[("manifest", manifest.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(made.status().as_u16(), 302);
    let back = made.headers()[LOCATION].to_str().unwrap().to_owned();
    // GitHub made the App on Create; the operator installs it on the repositories.
    let app = gh.manifest_apps().pop().unwrap();
    gh.install_manifest_app(app.id, INSTALLATION);
    let (status, html) = get(&http, &back, None).await;
    assert_eq!(status, 200, "{html}");

    // No GitHub setting: doctor opens the store and asks GitHub as the App.
    let env = |key: &str| {
        vec![
            ("DATABASE_URL", lucid.database_url()),
            ("LUCID_GITHUB_API_URL", gh.origin.clone()),
            ("LUCID_GITHUB_WEB_URL", gh.origin.clone()),
            ("LUCID_SECRET_KEY", key.to_owned()),
        ]
    };
    let secrets = [
        app.webhook_secret.clone(),
        app.pem.lines().nth(1).unwrap().to_owned(),
        SECRET_KEY.to_owned(),
    ];
    let (code, report) = doctor(&[], env(SECRET_KEY)).await;
    let github = line(&report, "github");
    assert!(
        github.starts_with(&format!("ok    github    GitHub App {APP_NAME} ({}), set up through /setup/github, works: installed on 1 account(s); an installation token was minted for ", app.id)),
        "{report}"
    );
    assert_eq!(code, 0, "{report}");
    let asked_as_the_app = gh
        .requests()
        .iter()
        .any(|r| r.path == "/app" && r.status == 200);
    assert!(asked_as_the_app, "doctor did not ask GET /app");
    let (code, report) = doctor(&["--offline"], env(SECRET_KEY)).await;
    assert_eq!(
        line(&report, "github"),
        format!(
            "ok    github    GitHub App {APP_NAME} ({}), set up through /setup/github; not asked (--offline)",
            app.id
        )
    );
    assert_eq!(code, 0, "{report}");

    // /readyz asks again once the setup is done, and says the same.
    let ready = lucid
        .until_readyz("/readyz to show the App", |answer| {
            let github = answer["platforms"]["checks"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|c| c["part"] == "github")
                .cloned();
            github.map(|github| (answer.clone(), github))
        })
        .await;
    let (answer, github) = ready;
    assert_eq!(answer["status"], "ready", "{answer}");
    assert_eq!(github["outcome"], "ok", "{answer}");
    assert!(
        github["detail"]
            .as_str()
            .unwrap()
            .contains("set up through /setup/github, works"),
        "{answer}"
    );
    for secret in &secrets {
        assert!(!answer.to_string().contains(secret.as_str()), "{answer}");
    }

    // Another key cannot open the App: a clear failure, naming the setting only.
    let other_key = "beefbeefbeefbeefbeefbeefbeefbeefbeefbeefbeefbeefbeefbeefbeefbeef";
    for args in [&[][..], &["--offline"][..]] {
        let (code, report) = doctor(args, env(other_key)).await;
        let github = line(&report, "github");
        assert!(
            github.starts_with(
                "FAIL  github    the GitHub App set up through /setup/github cannot be opened: "
            ) && github.contains("LUCID_SECRET_KEY is key")
                && github.contains("-> set LUCID_SECRET_KEY to the key it was sealed with"),
            "{report}"
        );
        assert_eq!(code, 1, "{report}");
        for secret in secrets.iter().map(String::as_str).chain([other_key]) {
            assert!(!report.contains(secret), "{report}");
        }
    }

    // No key at all: the kept App is named, not passed over as "not configured".
    let mut without_key = env(SECRET_KEY);
    without_key.retain(|(name, _)| *name != "LUCID_SECRET_KEY");
    let (code, report) = doctor(&[], without_key).await;
    assert_eq!(
        line(&report, "github"),
        "FAIL  github    a GitHub App set up through /setup/github is kept, but LUCID_SECRET_KEY is not set to open it -> set LUCID_SECRET_KEY to the key it was sealed with",
        "{report}"
    );
    assert_eq!(code, 1, "{report}");

    // Settings win: with a token set, the kept App is neither opened nor asked.
    let mut with_token = env(other_key);
    with_token.push(("LUCID_GITHUB_TOKEN", crate::rig::TOKEN.to_owned()));
    with_token.push(("LUCID_GITHUB_WEBHOOK_SECRETS", "s".to_owned()));
    let (code, report) = doctor(&[], with_token).await;
    assert!(
        line(&report, "github").starts_with("ok    github    the token works"),
        "{report}"
    );
    assert_eq!(code, 0, "{report}");
}

/// `lucid setup github` says where to go, and what is missing first.
#[test]
fn setup_github_prints_the_page_to_open() {
    let run = |env: &[(&str, &str)]| {
        let dir = tempfile::tempdir().unwrap();
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_lucid"));
        command.env_clear().current_dir(dir.path()).args([
            "setup",
            "github",
            "--org",
            "acme",
            "--name",
            "lucid acme",
        ]);
        for (key, value) in env {
            command.env(key, value);
        }
        let output = command.output().unwrap();
        assert!(output.status.success());
        (
            String::from_utf8(output.stdout).unwrap(),
            String::from_utf8(output.stderr).unwrap(),
        )
    };
    let public = ("LUCID_PUBLIC_URL", "https://lucid.example.com");
    let (stdout, stderr) = run(&[
        public,
        ("LUCID_SECRET_KEY", SECRET_KEY),
        ("LUCID_API_TOKEN", crate::rig::API_TOKEN),
    ]);
    assert_eq!(
        stdout,
        "https://lucid.example.com/setup/github?name=lucid+acme&org=acme\n"
    );
    assert!(stderr.contains("Create GitHub App"), "{stderr}");
    assert!(!stderr.contains("warning"), "{stderr}");
    let (_, stderr) = run(&[public]);
    assert!(
        stderr.starts_with("warning: The GitHub App's keys are sealed with LUCID_SECRET_KEY"),
        "{stderr}"
    );
    assert!(
        stderr.contains("LUCID_API_TOKEN or LUCID_UI_PASSWORD"),
        "{stderr}"
    );
}

/// The fake GitHub as GitHub documents the flow: a code is traded once, an unknown
/// one is 404, and the App it made mints tokens only with JWTs its own key signed.
#[tokio::test(flavor = "multi_thread")]
async fn the_fake_trades_a_code_once_and_takes_only_the_apps_own_key() {
    let gh = crate::fake_github::FakeGithub::start("lucid").await;
    gh.add_repo(REPO, &[("calc.py", "x = 1\n")]);
    let http = browser();
    let manifest = json!({
        "name": "Octo App",
        "url": "https://lucid.test",
        "hook_attributes": {"url": "https://lucid.test/webhooks/github"},
        "redirect_url": "https://lucid.test/back",
    });
    let made = http
        .post(format!(
            "{}/organizations/acme/settings/apps/new?state=s1",
            gh.origin
        ))
        .form(&[("manifest", manifest.to_string())])
        .send()
        .await
        .unwrap();
    assert_eq!(made.status().as_u16(), 302);
    let back = url::Url::parse(made.headers()[LOCATION].to_str().unwrap()).unwrap();
    assert_eq!(back.path(), "/back");
    let query: std::collections::HashMap<_, _> = back.query_pairs().into_owned().collect();
    assert_eq!(query["state"], "s1");
    let convert = |code: String| {
        let request = http.post(format!("{}/app-manifests/{code}/conversions", gh.origin));
        async move {
            let answer = request.send().await.unwrap();
            (
                answer.status().as_u16(),
                answer.json::<Value>().await.unwrap(),
            )
        }
    };
    assert_eq!(convert("deadbeef".into()).await.0, 404);
    let (status, app) = convert(query["code"].clone()).await;
    assert_eq!(status, 201, "{app}");
    assert_eq!(app["slug"], "octo-app");
    assert_eq!(app["owner"]["login"], "acme");
    assert_eq!(
        convert(query["code"].clone()).await.0,
        404,
        "a code works once"
    );

    let id = app["id"].as_u64().unwrap();
    gh.install_manifest_app(id, 77);
    let now = crate::rig::now_unix();
    let jwt = |pem: &[u8]| {
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
            &json!({"iat": now - 60, "exp": now + 540, "iss": id.to_string()}),
            &jsonwebtoken::EncodingKey::from_rsa_pem(pem).unwrap(),
        )
        .unwrap()
    };
    let mint = |token: String| {
        let request = http
            .post(format!("{}/app/installations/77/access_tokens", gh.origin))
            .bearer_auth(token)
            .json(&json!({"repositories": ["calc"]}));
        async move { request.send().await.unwrap().status().as_u16() }
    };
    let other_key = include_bytes!("../data/github/test-app-key.pem");
    assert_eq!(mint(jwt(other_key)).await, 401);
    assert_eq!(
        mint(jwt(app["pem"].as_str().unwrap().as_bytes())).await,
        201
    );
}

/// What the setup's one-time `state` stands on: of two takers one gets it, and
/// clearing earlier setups removes nothing else (LIKE's `_` is not a wildcard there).
async fn a_kept_credential_is_taken_once_and_a_prefix_removes_only_its_own(backend: Backend) {
    use lucid::store::crypto::SecretKey;
    use secrecy::{ExposeSecret, SecretString};
    let (store, _db) = migrated_store(backend).await;
    let key = SecretKey::generate();
    let put = |name: &'static str| {
        let (store, key) = (store.clone(), key.clone());
        async move {
            store
                .put_credential(&key, name, &SecretString::from(name))
                .await
                .unwrap()
        }
    };
    put("setup_state.a").await;
    put("setup_state.b").await;
    put("setupXstate.c").await;
    put("github.app").await;
    let (first, second) = tokio::join!(
        store.take_credential(&key, "setup_state.a"),
        store.take_credential(&key, "setup_state.a")
    );
    let taken: Vec<String> = [first.unwrap(), second.unwrap()]
        .into_iter()
        .flatten()
        .map(|s| s.expose_secret().to_owned())
        .collect();
    assert_eq!(taken, ["setup_state.a"]);
    assert_eq!(
        store
            .remove_credentials_under("setup_state.")
            .await
            .unwrap(),
        1
    );
    for (name, kept) in [
        ("setup_state.b", false),
        ("setupXstate.c", true),
        ("github.app", true),
    ] {
        assert_eq!(
            store.credential(&key, name).await.unwrap().is_some(),
            kept,
            "{name}"
        );
    }
}
