//! Choosing the agent a session runs with, through the real pieces that take a
//! request: GitHub's webhook route (against the fake GitHub), the API and the New
//! session form over HTTP, and the intake saying a refusal in GitHub's thread. The
//! store keeps each session's agent and model on both databases. No worker runs: what
//! is checked is what was recorded and what was said.

use crate::fake_github::FakeGithub;
use crate::harness::{
    API_TOKEN, Backend, TestDb, docker_host, migrated_store, new_session, on_both_stores, trigger,
    within,
};
use crate::rig::{REPO, SECRET, comment_payload};
use lucid::chat::{AgentChoice, ChatPlatform, Intake, Taken};
use lucid::config::{GithubAuth, GithubSettings};
use lucid::core::{
    Ask, Author, DeliveryId, EventBody, Intent, Origin, Policy, Refusal, RepoRef, SessionId,
    ThreadRef,
};
use lucid::github::{GithubForge, GithubLink, GithubPlatform};
use lucid::http::AppState;
use lucid::registry::Registry;
use lucid::sandbox::DockerEngine;
use lucid::store::{Recorded, Store};
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use secrecy::SecretString;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

on_both_stores!(
    a_session_keeps_its_agent_and_its_model,
    a_mention_that_asks_for_an_agent_starts_a_session_with_it,
    the_api_takes_an_agent_and_refuses_one_not_here,
    the_new_session_form_offers_the_agents_with_the_default_chosen,
);

const TOKEN: &str = "ghp_agentChoiceToken0123456789abcd";

/// The agents this lucid has in these tests.
fn agents() -> AgentChoice {
    AgentChoice::new(
        vec!["built-in".into(), "claude".into(), "gemini".into()],
        Some("built-in".into()),
    )
}

struct Rig {
    store: Store,
    github: FakeGithub,
    intake: Intake,
    registry: Arc<Registry>,
    url: String,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
    _db: TestDb,
}

impl Rig {
    /// GitHub (platform and forge, on the fake GitHub) and lucid's own platform, the
    /// API and the pages, served on a random port.
    async fn start(backend: Backend) -> Rig {
        let (store, db) = migrated_store(backend).await;
        let github = FakeGithub::start("lucid").await;
        github.accept_token(TOKEN);
        github.add_repo(REPO, &[("calc.py", "def add(a, b):\n    return a - b\n")]);
        github.set_permission(REPO, "ada", "write");
        let dir = tempfile::tempdir().unwrap();
        let settings = Arc::new(GithubSettings {
            webhook_secrets: vec![SECRET.into()],
            auth: GithubAuth::Token(TOKEN.into()),
            bot_login: "lucid".into(),
            api_url: github.origin.clone(),
            trigger_label: "lucid".into(),
            edit_interval: Duration::from_millis(50),
        });
        let link = GithubLink::from_settings(&settings).unwrap();
        let mut registry = Registry::default();
        registry.add_platform(Arc::new(GithubPlatform::new(
            link.clone(),
            &settings.trigger_label,
            settings.edit_interval,
        )));
        registry.add_platform(Arc::new(lucid::web::WebPlatform));
        registry.add_forge(Arc::new(GithubForge::on(
            link,
            dir.path().join("workspaces"),
        )));
        let registry = Arc::new(registry);
        let docker = Arc::new(DockerEngine::new(&docker_host()).unwrap());
        let state = AppState::new(store.clone(), docker, Some(SecretString::from(API_TOKEN)));
        let mut intake = registry.intake(&store, &state.links);
        intake.agents = agents();
        let webhooks = registry.routes(&intake);
        let router = lucid::http::router_with(
            state.with_actions(intake.clone(), registry.clone()),
            webhooks,
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await });
        Rig {
            store,
            github,
            intake,
            registry,
            url,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            _dir: dir,
            _db: db,
        }
    }

    /// Ada's comment `body` on issue `issue`, delivered as GitHub would.
    async fn comment(&self, issue: u64, comment: u64, body: &str) -> (u16, Value) {
        self.github.add_comment(REPO, issue, "ada", body);
        let payload = comment_payload(issue, "add() subtracts", comment, "ada", body);
        let body = serde_json::to_vec(&payload).unwrap();
        let signature = lucid::github::inbound::sign(SECRET, &body);
        let answer = within(
            "the webhook",
            self.http
                .post(format!("{}/webhooks/github", self.url))
                .header("X-GitHub-Event", "issue_comment")
                .header("X-GitHub-Delivery", format!("delivery-{comment}"))
                .header("X-Hub-Signature-256", signature)
                .header("content-type", "application/json")
                .body(body)
                .send(),
        )
        .await
        .unwrap();
        let status = answer.status().as_u16();
        (status, answer.json().await.unwrap_or(Value::Null))
    }

    async fn api_post(&self, path: &str, body: &Value) -> (u16, Value) {
        let answer = within(
            path,
            self.http
                .post(format!("{}/api/v1{path}", self.url))
                .bearer_auth(API_TOKEN)
                .json(body)
                .send(),
        )
        .await
        .unwrap();
        let status = answer.status().as_u16();
        (status, answer.json().await.unwrap_or(Value::Null))
    }

    async fn api_get(&self, path: &str) -> Value {
        let answer = within(
            path,
            self.http
                .get(format!("{}/api/v1{path}", self.url))
                .bearer_auth(API_TOKEN)
                .send(),
        )
        .await
        .unwrap();
        assert_eq!(answer.status().as_u16(), 200, "{path}");
        answer.json().await.unwrap()
    }

    async fn session(&self, id: &Value) -> lucid::core::Session {
        let id: SessionId = id.as_str().expect("a session id").parse().unwrap();
        self.store.session(id).await.unwrap().expect("the session")
    }

    /// Waits until the fake GitHub shows a comment by lucid on `issue` that says
    /// `words`.
    async fn said_on(&self, issue: u64, words: &str) -> String {
        self.github
            .wait_until(&format!("lucid to say {words:?}"), |github| {
                github
                    .comments(REPO, issue)
                    .into_iter()
                    .find(|c| c.author == "lucid" && c.body.contains(words))
                    .map(|c| c.body)
            })
            .await
    }
}

async fn a_session_keeps_its_agent_and_its_model(backend: Backend) {
    let (store, _db) = migrated_store(backend).await;
    let asked = lucid::core::Trigger {
        agent: Some("gemini".into()),
        ..trigger("d-gemini")
    };
    let Recorded::Created(made) = store.record_trigger(asked).await.unwrap() else {
        panic!("not created")
    };
    assert_eq!(made.trigger.agent.as_deref(), Some("gemini"));
    let read = store.session(made.id).await.unwrap().unwrap();
    assert_eq!(read.trigger.agent.as_deref(), Some("gemini"));
    assert_eq!(read.model, None);
    store.set_model(made.id, "gemini-2.5-pro").await.unwrap();
    let read = store.session(made.id).await.unwrap().unwrap();
    assert_eq!(read.model.as_deref(), Some("gemini-2.5-pro"));
    assert_eq!(read.trigger.agent.as_deref(), Some("gemini"));
    // A session that named none (made before agents could be chosen, say).
    let plain = new_session(&store, "d-plain").await;
    let read = store.session(plain.id).await.unwrap().unwrap();
    assert_eq!((read.trigger.agent, read.model), (None, None));
    // Every read of sessions carries them: the list, and a claim.
    let listed = store
        .list_sessions(&lucid::store::SessionFilter {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    let listed = listed.iter().find(|s| s.id == made.id).unwrap();
    assert_eq!(listed.trigger.agent.as_deref(), Some("gemini"));
    assert_eq!(listed.model.as_deref(), Some("gemini-2.5-pro"));
    let serves = lucid::store::Serves {
        platforms: vec![lucid::core::Platform::GITHUB],
        forges: vec!["github".into()],
    };
    let claimed = store
        .claim_next(
            "w1",
            Duration::from_secs(30),
            lucid::core::Timestamp::now(),
            &serves,
        )
        .await
        .unwrap()
        .expect("a claim");
    assert_eq!(claimed.id, made.id, "the older session first");
    assert_eq!(claimed.trigger.agent.as_deref(), Some("gemini"));
    assert_eq!(claimed.model.as_deref(), Some("gemini-2.5-pro"));
}

async fn a_mention_that_asks_for_an_agent_starts_a_session_with_it(backend: Backend) {
    let rig = Rig::start(backend).await;
    let (status, answer) = rig
        .comment(7, 701, "@lucid With Gemini: fix add() please")
        .await;
    assert_eq!(status, 202, "{answer}");
    let session = rig.session(&answer["session"]).await;
    assert_eq!(session.trigger.agent.as_deref(), Some("gemini"));
    assert!(
        session
            .trigger
            .task
            .ends_with("@ada asked:\nfix add() please"),
        "{}",
        session.trigger.task
    );
    assert!(!session.trigger.task.contains("Gemini"));

    // In the session's thread the words go to its agent as said; it keeps its agent.
    let (status, said) = rig
        .comment(7, 702, "@lucid with claude: and the docs too")
        .await;
    assert_eq!(status, 202, "{said}");
    assert_eq!(said["as"], "follow-up", "{said}");
    let events = rig.store.events_after(session.id, 0, 100).await.unwrap();
    assert!(
        events.iter().any(|e| matches!(&e.body,
            EventBody::UserMessage { text, .. } if text == "with claude: and the docs too")),
        "{events:?}"
    );
    let again = rig.store.session(session.id).await.unwrap().unwrap();
    assert_eq!(again.trigger.agent.as_deref(), Some("gemini"));

    // Words that only look like a choice are the task, with the default agent.
    let (status, answer) = rig.comment(8, 801, "@lucid with care: fix add()").await;
    assert_eq!(status, 202, "{answer}");
    let careful = rig.session(&answer["session"]).await;
    assert_eq!(careful.trigger.agent.as_deref(), Some("built-in"));
    assert!(
        careful
            .trigger
            .task
            .ends_with("@ada asked:\nwith care: fix add()"),
        "{}",
        careful.trigger.task
    );

    // An agent asked for outside the words that is not here: said in the thread, and
    // no session.
    let github = rig
        .registry
        .platform(&lucid::core::Platform::GITHUB)
        .unwrap();
    let refused = ask_for(&rig.intake, github, 9, "codex").await;
    assert_eq!(
        refused,
        Taken::Refused(Refusal::UnknownAgent {
            agent: "codex".into(),
            known: agents().ids
        })
    );
    let reply = rig.said_on(9, "There is no agent called").await;
    assert_eq!(
        reply,
        "@ada There is no agent called `codex` here. Ask for one of: `built-in`, `claude`, `gemini`."
    );
    let thread = ThreadRef::Github {
        repo: RepoRef::parse(REPO).unwrap(),
        issue: 9,
    };
    assert_eq!(rig.store.thread_state(&thread).await.unwrap().session, None);
    // Asked again (a retry), nothing is said twice.
    let again = ask_for(&rig.intake, github, 9, "codex").await;
    assert_eq!(again, Taken::Duplicate);
    // Named in any case, a configured agent is taken as it is spelled here.
    let taken = ask_for(&rig.intake, github, 10, "Claude").await;
    let Taken::Started(id) = taken else {
        panic!("not started: {taken:?}")
    };
    let session = rig.store.session(id).await.unwrap().unwrap();
    assert_eq!(session.trigger.agent.as_deref(), Some("claude"));
}

/// Ada asks for work on issue `issue` with `agent` named outside the words (as a
/// command's option or a task page's property does).
async fn ask_for(
    intake: &Intake,
    platform: &Arc<dyn ChatPlatform>,
    issue: u64,
    agent: &str,
) -> Taken {
    let intent = Intent {
        origin: Origin {
            delivery: DeliveryId::parse(&format!("ask-{issue}")).unwrap(),
            thread: ThreadRef::Github {
                repo: RepoRef::parse(REPO).unwrap(),
                issue,
            },
            author: Author {
                id: "ada".into(),
                display_name: "ada".into(),
            },
            message: None,
            addressed: true,
        },
        ask: Ask::Task {
            text: "fix add()".into(),
            repo: Some(RepoRef::parse(REPO).unwrap()),
            title: None,
            whole: None,
            agent: Some(agent.into()),
        },
    };
    intake
        .take(platform, intent, Policy::open(), None, false)
        .await
        .unwrap()
}

async fn the_api_takes_an_agent_and_refuses_one_not_here(backend: Backend) {
    let rig = Rig::start(backend).await;
    let (status, body) = rig
        .api_post(
            "/sessions",
            &json!({"task": "fix add()", "repo": REPO, "agent": "gemini"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let id = body["session"].as_str().unwrap().to_owned();
    let shown = rig.api_get(&format!("/sessions/{id}")).await;
    assert_eq!(shown["trigger"]["agent"], "gemini", "{shown}");
    assert_eq!(shown["model"], Value::Null, "{shown}");
    rig.store
        .set_model(id.parse().unwrap(), "gemini-2.5-pro")
        .await
        .unwrap();
    let shown = rig.api_get(&format!("/sessions/{id}")).await;
    assert_eq!(shown["model"], "gemini-2.5-pro", "{shown}");
    let listed = rig.api_get("/sessions").await;
    assert_eq!(listed["sessions"][0]["trigger"]["agent"], "gemini");

    // None named: the task's words may name one, else the default.
    let (status, body) = rig
        .api_post(
            "/sessions",
            &json!({"task": "using claude, fix add()", "repo": REPO}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let shown = rig
        .api_get(&format!("/sessions/{}", body["session"].as_str().unwrap()))
        .await;
    assert_eq!(shown["trigger"]["agent"], "claude");
    assert_eq!(shown["trigger"]["task"], "fix add()");
    let (status, body) = rig
        .api_post("/sessions", &json!({"task": "fix add()", "repo": REPO}))
        .await;
    assert_eq!(status, 201, "{body}");
    let shown = rig
        .api_get(&format!("/sessions/{}", body["session"].as_str().unwrap()))
        .await;
    assert_eq!(shown["trigger"]["agent"], "built-in");

    // An agent not here, and a choice with nothing to do: 400, saying why.
    let before = rig.api_get("/sessions").await["sessions"]
        .as_array()
        .unwrap()
        .len();
    let (status, body) = rig
        .api_post(
            "/sessions",
            &json!({"task": "fix add()", "repo": REPO, "agent": "gpt"}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["error"],
        "there is no agent called \"gpt\" here; ask for one of: built-in, claude, gemini",
        "{body}"
    );
    let (status, body) = rig
        .api_post("/sessions", &json!({"task": "with gemini:", "repo": REPO}))
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "a mention without a task", "{body}");
    let after = rig.api_get("/sessions").await["sessions"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(before, after);

    // The document says what the body takes.
    let document: Value = rig
        .http
        .get(format!("{}/api/v1/openapi.json", rig.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        document["components"]["schemas"]["NewSession"]["properties"]["agent"].is_object(),
        "{document:#}"
    );
}

async fn the_new_session_form_offers_the_agents_with_the_default_chosen(backend: Backend) {
    let rig = Rig::start(backend).await;
    let signed_in = rig
        .http
        .post(format!("{}/signin", rig.url))
        .form(&[("password", API_TOKEN), ("next", "/")])
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status().as_u16(), 303);
    let cookie = signed_in.headers()[SET_COOKIE]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let page = rig
        .http
        .get(format!("{}/", rig.url))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let select = page
        .split("<select name=\"agent\"")
        .nth(1)
        .unwrap_or_else(|| panic!("no agent select in {page}"));
    let select = select.split("</select>").next().unwrap();
    assert_eq!(
        select.matches("<option").count(),
        3,
        "one option an agent: {select}"
    );
    assert!(
        select.contains("<option value=\"built-in\" selected>built-in</option>"),
        "{select}"
    );
    assert!(select.contains("<option value=\"gemini\">gemini</option>"));

    let start = |agent: &'static str, task: &'static str| {
        let form = hidden(&page, "form");
        let once = uuid::Uuid::now_v7().to_string();
        let (http, url, cookie) = (rig.http.clone(), rig.url.clone(), cookie.clone());
        async move {
            http.post(format!("{url}/sessions"))
                .header(COOKIE, cookie)
                .form(&[
                    ("form", form.as_str()),
                    ("once", once.as_str()),
                    ("repo", REPO),
                    ("task", task),
                    ("agent", agent),
                ])
                .send()
                .await
                .unwrap()
        }
    };
    let answer = start("gemini", "fix add()").await;
    assert_eq!(answer.status().as_u16(), 303);
    let to = answer.headers()[LOCATION].to_str().unwrap();
    let id: SessionId = to.trim_start_matches("/sessions/").parse().unwrap();
    let session = rig.store.session(id).await.unwrap().unwrap();
    assert_eq!(session.trigger.agent.as_deref(), Some("gemini"));
    // Left at the default, the select lets the words choose.
    let answer = start("built-in", "with claude: fix add()").await;
    assert_eq!(answer.status().as_u16(), 303);
    let to = answer.headers()[LOCATION].to_str().unwrap();
    let id: SessionId = to.trim_start_matches("/sessions/").parse().unwrap();
    let session = rig.store.session(id).await.unwrap().unwrap();
    assert_eq!(session.trigger.agent.as_deref(), Some("claude"));
    assert_eq!(session.trigger.task, "fix add()");
    // A value no option has (a forged form) is refused, saying why.
    let answer = start("gpt", "fix add()").await;
    assert_eq!(answer.status().as_u16(), 400);
    assert!(answer.text().await.unwrap().contains("no agent called"));
}

/// The value of a hidden field named `name` in a page.
fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in {html}"))
        + marker.len();
    html[start..].split('"').next().unwrap().to_owned()
}
