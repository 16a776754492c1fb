//! Linked accounts end to end: the real `lucid serve` with `LUCID_REQUIRE_LINKED_ACCOUNT`
//! on, against the fake Slack and the fake GitHub's device flow. A person says
//! "login", gets GitHub's code where only they see it, approves it on the (fake)
//! site, and from then on their requests are checked and credited as their GitHub
//! account; "logout" forgets it. The token never shows: not in the store's files,
//! lucid's log, a session's events, or anything said in Slack.

use crate::fake_discord::FakeDiscord;
use crate::fake_slack::FakeSlack;
use crate::harness::{Backend, migrated_store, on_both_stores, within};
use crate::rig::{
    ADA, BARE_CHANNEL, BOT_USER, CHANNEL, DADA, DCHANNEL, GUILD, Lucid, REPO, comment_payload,
    fixing_script, slack_message,
};
use lucid::core::{RepoRef, ThreadRef};
use lucid::forge::linking::{Access, Linker, Poll};
use lucid::github::linking::{GithubLinker, access, person_client};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use std::sync::Arc;

const CLIENT_ID: &str = "Iv1.lucid0linking0test";
const KEY: &str = "11223344556677889900aabbccddeeff11223344556677889900aabbccddeeff";
const OTHER_KEY: &str = "ffeeddccbbaa00998877665544332211ffeeddccbbaa00998877665544332211";
/// A person of the workspace lucid takes requests from, who reads acme/calc only.
const ROB: &str = "U0ROB";
/// A repository Ada may only read.
const READ_ONLY: &str = "acme/notes";

fn mention(channel: &str, user: &str, ts: &str, words: &str) -> Value {
    slack_message(
        "app_mention",
        channel,
        user,
        ts,
        None,
        &format!("<@{BOT_USER}> {words}"),
    )
}

async fn start() -> Lucid {
    let lucid = Lucid::start_setting(
        fixing_script(),
        &[
            ("LUCID_REQUIRE_LINKED_ACCOUNT", "on"),
            ("LUCID_GITHUB_CLIENT_ID", CLIENT_ID),
            ("LUCID_SECRET_KEY", KEY),
        ],
    )
    .await;
    lucid.github.enable_device_flow(CLIENT_ID, 1, 900);
    lucid
        .github
        .add_repo(READ_ONLY, &[("README.md", "notes\n")]);
    lucid.github.set_permission(READ_ONLY, "ada", "read");
    lucid
}

/// Everything lucid said in Slack, to everyone and to one person, as one text.
fn said_in_slack(slack: &FakeSlack) -> String {
    let public = slack
        .messages()
        .iter()
        .map(|m| format!("{} {} {:?}", m.text, m.blocks, m.edits))
        .collect::<Vec<_>>();
    let private = slack
        .ephemerals()
        .iter()
        .map(|e| format!("{} {}", e.text, e.blocks))
        .collect::<Vec<_>>();
    format!("{}\n{}", public.join("\n"), private.join("\n"))
}

/// What lucid said in the thread of `ts` in `channel`, once it said something
/// containing `words`.
async fn said_in_thread(slack: &FakeSlack, channel: &str, ts: &str, words: &str) -> String {
    slack
        .wait_until(&format!("{words:?} in the thread"), |s| {
            s.thread(channel, ts)
                .iter()
                .map(|m| m.text.clone())
                .find(|t| t.contains(words))
        })
        .await
}

/// What lucid said to `user` alone, once it said something containing `words`.
async fn said_to(slack: &FakeSlack, user: &str, words: &str) -> String {
    slack
        .wait_until(&format!("{words:?} said to {user}"), |s| {
            s.ephemerals()
                .iter()
                .filter(|e| e.user == user)
                .map(|e| e.text.clone())
                .find(|t| t.contains(words))
        })
        .await
}

/// Ada says "login" and approves the code she is shown; answers the code.
async fn log_in(lucid: &Lucid, ts: &str) -> String {
    let before = lucid.github.device_codes().len();
    let (status, answer) = lucid
        .slack_event(&mention(CHANNEL, ADA, ts, "login"), None)
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["account"], "login", "{answer}");
    let code = lucid
        .github
        .wait_until("lucid to ask GitHub for a code", |g| {
            g.device_codes().get(before).map(|c| c.user_code.clone())
        })
        .await;
    let told = said_to(&lucid.slack, ADA, &code).await;
    assert!(told.contains("enter the code"), "{told}");
    assert!(told.contains("/login/device"), "{told}");
    // Nobody else sees it: nothing in any thread carries the code.
    assert!(
        lucid
            .slack
            .messages()
            .iter()
            .all(|m| !m.text.contains(&code)),
        "{:#?}",
        lucid.slack.messages()
    );
    lucid.github.approve_device(&code, "ada");
    code
}

/// Nothing shows `token`: not the store's files, the log, a session's events or
/// anything said in Slack.
async fn assert_hidden(lucid: &Lucid, token: &str) {
    let store = lucid.store_bytes();
    assert!(
        !store.windows(token.len()).any(|w| w == token.as_bytes()),
        "the token is in the store in plain text"
    );
    assert!(!lucid.log().contains(token), "the token is in the log");
    assert!(!said_in_slack(&lucid.slack).contains(token));
    for session in lucid.sessions().await {
        let id = session["id"].as_str().unwrap();
        let events = serde_json::to_string(&lucid.events(id).await).unwrap();
        assert!(!events.contains(token), "the token is in {id}'s events");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_linked_person_is_checked_and_credited_as_their_github_account() {
    let mut lucid = start().await;

    // Not linked yet: nothing starts, and the thread says what to do.
    let (_, answer) = lucid
        .slack_event(
            &mention(CHANNEL, ADA, "1700000001.000100", "fix add()"),
            None,
        )
        .await;
    assert!(answer["refused"].is_string(), "{answer}");
    let refusal = said_in_thread(
        &lucid.slack,
        CHANNEL,
        "1700000001.000100",
        "Link yours first",
    )
    .await;
    assert!(refusal.contains("`login`"), "{refusal}");
    assert!(lucid.sessions().await.is_empty());

    // "login": the code, to Ada alone; she approves it on GitHub.
    log_in(&lucid, "1700000002.000100").await;
    let linked = said_to(&lucid.slack, ADA, "Linked").await;
    assert!(linked.contains("`ada` on GitHub"), "{linked}");
    let tokens = lucid.github.person_tokens();
    assert_eq!(tokens.len(), 1, "one token was handed out");
    // lucid asked for the scope that shows private repositories (and for JSON: the
    // fake answers a form otherwise, which lucid would not read).
    assert_eq!(lucid.github.device_codes()[0].scope, "repo");

    // A request on a repository she may write to starts, and its commit credits her.
    let (_, answer) = lucid
        .slack_event(
            &mention(CHANNEL, ADA, "1700000003.000100", "please fix add()"),
            None,
        )
        .await;
    let id = answer["session"]
        .as_str()
        .unwrap_or_else(|| panic!("no session: {answer}"))
        .to_owned();
    let session = lucid
        .until_session(&id, "the session to finish", |s| s["state"] == "completed")
        .await;
    let branch = session["branch"].as_str().unwrap();
    let message = lucid
        .github
        .git(REPO, &["log", "-1", "--format=%B", branch]);
    let credit = message
        .lines()
        .find(|l| l.starts_with("Co-authored-by: ada <"))
        .unwrap_or_else(|| panic!("no credit for ada in {message}"));
    assert!(
        credit.ends_with("+ada@users.noreply.github.com>"),
        "{credit}"
    );
    // Checked with her own token, not lucid's.
    let asked = lucid
        .github
        .requests()
        .into_iter()
        .filter(|r| r.path == "/repos/acme/calc" && r.method == "GET")
        .filter(|r| matches!(&r.auth, crate::fake_github::Auth::Pat(t) if t == &tokens[0]))
        .count();
    assert!(asked >= 1, "GitHub was not asked with Ada's token");

    // One she may only read is refused, saying so.
    let (_, answer) = lucid
        .slack_event(
            &mention(
                BARE_CHANNEL,
                ADA,
                "1700000004.000100",
                "fix the typo in acme/notes",
            ),
            None,
        )
        .await;
    assert!(answer["refused"].is_string(), "{answer}");
    let refusal = said_in_thread(
        &lucid.slack,
        BARE_CHANNEL,
        "1700000004.000100",
        "cannot write to",
    )
    .await;
    assert!(refusal.contains("`acme/notes`"), "{refusal}");

    // Someone who never linked is told to.
    lucid
        .slack_event(
            &mention(CHANNEL, ROB, "1700000005.000100", "fix add()"),
            None,
        )
        .await;
    said_in_thread(
        &lucid.slack,
        CHANNEL,
        "1700000005.000100",
        "Link yours first",
    )
    .await;

    assert_hidden(&lucid, &tokens[0]).await;

    // "logout": the token is forgotten, and her next request is refused again.
    let (_, answer) = lucid
        .slack_event(&mention(CHANNEL, ADA, "1700000006.000100", "logout"), None)
        .await;
    assert_eq!(answer["account"], "logout", "{answer}");
    said_to(&lucid.slack, ADA, "Unlinked").await;
    lucid
        .slack_event(
            &mention(CHANNEL, ADA, "1700000007.000100", "fix add() again"),
            None,
        )
        .await;
    said_in_thread(
        &lucid.slack,
        CHANNEL,
        "1700000007.000100",
        "Link yours first",
    )
    .await;
    assert_eq!(lucid.sessions().await.len(), 1);

    // Linked again, then lucid restarted with another key: the link cannot be opened,
    // and lucid says so in the thread and in its log.
    log_in(&lucid, "1700000008.000100").await;
    within("the second link", async {
        while lucid.github.person_tokens().len() < 2 {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    })
    .await;
    said_to_twice(&lucid.slack, ADA, "Linked").await;
    lucid.restart_with("LUCID_SECRET_KEY", OTHER_KEY).await;
    lucid
        .slack_event(
            &mention(CHANNEL, ADA, "1700000009.000100", "fix add()"),
            None,
        )
        .await;
    let refusal = said_in_thread(
        &lucid.slack,
        CHANNEL,
        "1700000009.000100",
        "stored under another LUCID_SECRET_KEY",
    )
    .await;
    assert!(refusal.contains("`login`"), "{refusal}");
    // The log says why, for whoever runs lucid (its lines arrive through a pipe).
    within("the log to say why", async {
        while !lucid.log().contains("set the key it was stored with") {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    })
    .await;
    assert_eq!(lucid.sessions().await.len(), 1);
    for token in lucid.github.person_tokens() {
        assert_hidden(&lucid, &token).await;
    }
    assert!(
        lucid.slack.unexpected().is_empty(),
        "{:#?}",
        lucid.slack.unexpected()
    );
}

/// Waits until lucid told `user` something containing `words` twice.
async fn said_to_twice(slack: &FakeSlack, user: &str, words: &str) {
    slack
        .wait_until(&format!("{words:?} said twice to {user}"), |s| {
            let n = s
                .ephemerals()
                .iter()
                .filter(|e| e.user == user && e.text.contains(words))
                .count();
            (n >= 2).then_some(())
        })
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_login_that_is_declined_or_runs_out_says_so_and_links_nothing() {
    let lucid = start().await;
    let slack = &lucid.slack;

    // Declined on GitHub.
    lucid
        .slack_event(&mention(CHANNEL, ADA, "1700000001.000100", "log in"), None)
        .await;
    said_to(slack, ADA, "enter the code").await;
    let code = lucid.github.device_codes()[0].user_code.clone();
    lucid.github.deny_device(&code);
    said_to(slack, ADA, "You declined on GitHub").await;

    // Never entered: the code's life runs out (the fake's codes now live 2 seconds).
    lucid.github.enable_device_flow(CLIENT_ID, 1, 2);
    lucid
        .slack_event(&mention(CHANNEL, ADA, "1700000002.000100", "login"), None)
        .await;
    said_to(slack, ADA, "expired before it was entered").await;
    assert!(lucid.github.person_tokens().is_empty());

    // `/lucid logout` is answered to her alone, with nothing posted in the channel.
    let trigger_id = format!("{}.42.logout", crate::rig::now_unix());
    let (status, answer) = lucid
        .slack_form(
            "commands",
            &[
                ("team_id", crate::rig::TEAM),
                ("channel_id", CHANNEL),
                ("user_id", ADA),
                ("command", "/lucid"),
                ("text", "logout"),
                ("response_url", "https://hooks.slack.com/commands/T0001/1/x"),
                ("trigger_id", &trigger_id),
            ],
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let told = slack
        .wait_until("the answer to /lucid logout", |s| {
            s.ephemerals()
                .into_iter()
                .find(|e| e.text.contains("No GitHub account is linked"))
        })
        .await;
    assert_eq!((told.user.as_str(), told.thread_ts), (ADA, None));
    assert!(
        slack.messages().iter().all(|m| !m.text.contains("logout")),
        "{:#?}",
        slack.messages()
    );

    // Still not linked.
    lucid
        .slack_event(
            &mention(CHANNEL, ADA, "1700000003.000100", "fix add()"),
            None,
        )
        .await;
    said_in_thread(slack, CHANNEL, "1700000003.000100", "Link yours first").await;

    // Where lucid cannot answer privately (a GitHub issue), no code is given out.
    let (status, _) = lucid
        .deliver(
            "issue_comment",
            "linked-accounts-login-1",
            &comment_payload(7, "add() subtracts", 501, "ada", "@lucid login"),
        )
        .await;
    assert_eq!(status, 202);
    let comment = lucid
        .github
        .wait_until("lucid's answer on the issue", |g| {
            g.comments(REPO, 7)
                .into_iter()
                .find(|c| c.author == "lucid")
                .map(|c| c.body)
        })
        .await;
    assert!(comment.contains("answer you privately"), "{comment}");
    assert_eq!(
        lucid.github.device_codes().len(),
        2,
        "no code was asked for"
    );
    assert!(lucid.sessions().await.is_empty());
    assert!(slack.unexpected().is_empty(), "{:#?}", slack.unexpected());
}

/// lucid's GitHub side of the flow against the fake: a poll sooner than the interval
/// is told to slow down, and the person's token says what they may do.
#[tokio::test(flavor = "multi_thread")]
async fn githubs_device_flow_and_a_persons_access_read_as_github_answers_them() {
    let github = crate::fake_github::FakeGithub::start("lucid").await;
    github.enable_device_flow(CLIENT_ID, 3, 900);
    github.add_repo(REPO, &[("calc.py", "x = 1\n")]);
    github.set_permission(REPO, "ada", "write");
    github.set_permission(REPO, "rob", "read");
    let linker = GithubLinker::new(&github.origin, &github.origin, CLIENT_ID);

    let code = linker.start().await.unwrap();
    assert_eq!(code.interval.as_secs(), 3);
    assert!(matches!(
        linker.poll(&code.device_code).await.unwrap(),
        Poll::Pending
    ));
    // At once again: sooner than the interval.
    match linker.poll(&code.device_code).await.unwrap() {
        Poll::SlowDown(interval) => assert_eq!(interval.as_secs(), 8),
        _ => panic!("a poll too soon was not told to slow down"),
    }
    assert_eq!(github.device_codes()[0].interval, 8);
    // A code GitHub never issued is an error that says so.
    let unknown = linker
        .poll(&SecretString::from("0000"))
        .await
        .err()
        .expect("an unknown code is refused");
    assert!(
        unknown.to_string().contains("incorrect_device_code"),
        "{unknown}"
    );

    // Two people's tokens, through a second flow each, approved at once.
    let mut tokens = Vec::new();
    for login in ["ada", "rob"] {
        let code = linker.start().await.unwrap();
        github.approve_device(&code.user_code, login);
        let Poll::Token(token) = linker.poll(&code.device_code).await.unwrap() else {
            panic!("an approved code gave no token");
        };
        let user = linker.who(&token).await.unwrap();
        assert_eq!(user.login, login);
        tokens.push(token);
    }
    let http = person_client();
    let repo = RepoRef::parse(REPO).unwrap();
    let of = |i: usize| access(&http, &github.origin, &repo, &tokens[i]);
    assert_eq!(of(0).await.unwrap(), Access::Write);
    assert_eq!(of(1).await.unwrap(), Access::NoWrite);
    github.revoke_token(tokens[0].expose_secret());
    assert_eq!(of(0).await.unwrap(), Access::TokenRefused);
    assert!(github.unrouted().is_empty(), "{:#?}", github.unrouted());
}

/// What the bot said to `person` in a direct message, once it said something
/// containing `words`.
async fn said_in_dm(discord: &FakeDiscord, person: &str, words: &str) -> String {
    discord
        .wait_until(&format!("{words:?} in a direct message"), |d| {
            d.direct_messages(person)
                .into_iter()
                .map(|m| m.content)
                .find(|c| c.contains(words))
        })
        .await
}

/// On Discord the code comes in a direct message, for a mention and for `/lucid`
/// alike, and a linked person's mention starts a session.
#[tokio::test(flavor = "multi_thread")]
async fn on_discord_the_code_comes_in_a_direct_message() {
    let lucid = Lucid::start_discord_with(
        vec![],
        &[
            ("LUCID_REQUIRE_LINKED_ACCOUNT", "on"),
            ("LUCID_GITHUB_CLIENT_ID", CLIENT_ID),
            ("LUCID_SECRET_KEY", KEY),
        ],
    )
    .await;
    lucid.github.enable_device_flow(CLIENT_ID, 1, 900);
    let discord = &lucid.discord;
    discord.until_ready(GUILD).await;
    let bot = format!("<@{}>", discord.bot().user_id);

    // Not linked: the mention is refused, saying how to link.
    let asked = discord.post_as(DADA, DCHANNEL, &format!("{bot} fix add()"));
    discord
        .wait_until("the refusal", |d| {
            d.bot_messages()
                .into_iter()
                .find(|m| m.content.contains("Link yours first"))
        })
        .await;
    assert!(lucid.sessions().await.is_empty());

    // "login": the code in a direct message only.
    discord.post_as(DADA, DCHANNEL, &format!("{bot} login"));
    let told = said_in_dm(discord, DADA, "enter the code").await;
    let code = lucid.github.device_codes()[0].user_code.clone();
    assert!(told.contains(&code), "{told}");
    let public = discord
        .messages()
        .into_iter()
        .filter(|m| m.guild_id.is_some())
        .collect::<Vec<_>>();
    assert!(
        public.iter().all(|m| !m.content.contains(&code)),
        "{public:#?}"
    );
    lucid.github.approve_device(&code, "ada");
    said_in_dm(discord, DADA, "Linked").await;

    // Now her mention starts a session.
    discord.post_as(DADA, DCHANNEL, &format!("{bot} please fix add()"));
    lucid.first_session().await;
    assert_ne!(asked, "", "the first mention was posted");

    // `/lucid task:logout` is answered only to her, the rest in a direct message.
    let command = discord.slash_command(GUILD, DCHANNEL, DADA, "lucid", &[("task", "logout")]);
    let (status, answer) = discord.deliver(&lucid.interactions_url(), &command).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["data"]["flags"], 64, "{answer}");
    assert!(
        answer["data"]["content"]
            .as_str()
            .unwrap_or_default()
            .contains("direct message"),
        "{answer}"
    );
    said_in_dm(discord, DADA, "Unlinked").await;
    let tokens = lucid.github.person_tokens();
    assert_eq!(tokens.len(), 1);
    assert!(!lucid.log().contains(&tokens[0]));
    for message in discord.messages() {
        assert!(!format!("{message:?}").contains(&tokens[0]));
    }
}

on_both_stores!(logins_waiting_are_bounded_end_at_expiry_and_links_are_sealed);

/// lucid's accounts on a real store against the fake GitHub: at most
/// `MOST_WAITING` logins wait (a person's newer one replaces their older), a login
/// ends when its code's life does, and a link is sealed (another key cannot open it,
/// and says so) until it is forgotten.
async fn logins_waiting_are_bounded_end_at_expiry_and_links_are_sealed(backend: Backend) {
    use lucid::chat::accounts::{Accounts, CannotBegin, LoginEnd, MOST_WAITING};
    use lucid::store::crypto::SecretKey;
    let (store, _db) = migrated_store(backend).await;
    let github = crate::fake_github::FakeGithub::start("lucid").await;
    github.enable_device_flow(CLIENT_ID, 1, 900);
    let linker = GithubLinker::new(&github.origin, &github.origin, CLIENT_ID);
    let key = SecretKey::parse(KEY).unwrap();
    let accounts = Arc::new(Accounts::new(
        store.clone(),
        Some(key.clone()),
        Some(Arc::new(linker)),
        true,
    ));
    let place = ThreadRef::Slack {
        team: "T0001".into(),
        channel: "C1".into(),
        thread_ts: "1.1".into(),
    };

    let mut waiting = Vec::new();
    for i in 0..MOST_WAITING {
        let login = accounts.begin(&place, &format!("U{i}")).await.unwrap();
        waiting.push(login.expect("room for another login"));
    }
    let refused = accounts.begin(&place, "U0MORE").await.unwrap();
    assert_eq!(refused.err(), Some(CannotBegin::Busy));
    // The same person again: the newer login replaces the older, nothing more waits.
    let newer = accounts.begin(&place, "U0").await.unwrap().unwrap();
    assert_eq!(accounts.waiting(), MOST_WAITING);
    let older = waiting.remove(0);
    assert!(matches!(older.wait().await, LoginEnd::Replaced));
    newer.abandon();
    for login in waiting {
        login.abandon();
    }
    assert_eq!(accounts.waiting(), 0);

    // Approved: kept sealed, for that person only.
    let login = accounts.begin(&place, "U0ADA").await.unwrap().unwrap();
    github.approve_device(&login.user_code, "ada");
    let LoginEnd::Linked(user) = login.wait().await else {
        panic!("an approved login linked nothing");
    };
    assert_eq!(
        (user.forge.as_str(), user.login.as_str()),
        ("github", "ada")
    );
    let linked = accounts.linked(&place, "U0ADA").await.unwrap().unwrap();
    assert_eq!(linked.user, user);
    assert_eq!(linked.token.expose_secret(), github.person_tokens()[0]);
    assert!(accounts.linked(&place, "U0EVE").await.unwrap().is_none());
    let name = lucid::core::linked::link_name(&place, "U0ADA");
    let other = SecretKey::parse(OTHER_KEY).unwrap();
    let wrong = store.credential(&other, &name).await.err().unwrap();
    assert!(
        wrong.to_string().contains("set the key it was stored with"),
        "{wrong}"
    );
    assert!(accounts.forget(&place, "U0ADA").await.unwrap());
    assert!(accounts.linked(&place, "U0ADA").await.unwrap().is_none());
    assert!(!accounts.forget(&place, "U0ADA").await.unwrap());

    // A code that lives a second: the login ends then, nobody having entered it.
    github.enable_device_flow(CLIENT_ID, 1, 1);
    let login = accounts.begin(&place, "U0ROB").await.unwrap().unwrap();
    assert!(matches!(login.wait().await, LoginEnd::Expired));
    assert_eq!(accounts.waiting(), 0);
}

/// GitHub down (5xx) while a linked person's access is checked: Slack has its answer
/// at once (it gives up after three retries), the mention is kept in the store, lucid
/// asks again with backoff, and the session starts once GitHub answers. Nothing is
/// lost to the outage, and nothing starts without the check.
#[tokio::test(flavor = "multi_thread")]
async fn a_mention_whose_linked_check_github_cannot_answer_is_kept_and_starts_once_it_does() {
    let lucid = start().await;
    log_in(&lucid, "1700000031.000100").await;
    said_to(&lucid.slack, ADA, "Linked").await;
    let checks = format!("/repos/{REPO}");
    lucid
        .github
        .outage
        .begin_on(crate::fake_github::Down::Failing, &checks);

    let ts = "1700000032.000100";
    let asked = mention(CHANNEL, ADA, ts, "please fix add()");
    let (status, answer) = lucid.slack_event(&asked, None).await;
    assert_eq!(status, 200, "{answer}\n{}", lucid.log());
    assert!(answer["held"].is_string(), "{answer}");
    // Slack's own retry during the outage: taken once.
    let (status, again) = lucid.slack_event(&asked, Some(1)).await;
    assert_eq!(
        (status, &again["duplicate"]),
        (200, &serde_json::json!(true)),
        "{again}"
    );

    // lucid asks again, and starts nothing meanwhile.
    within("lucid to ask GitHub again", async {
        while lucid.github.outage.turned_away_on(&checks).len() < 3 {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(
        lucid.sessions().await.is_empty(),
        "started without the check"
    );

    lucid.github.outage.end();
    let id = within("the session once GitHub answers", async {
        loop {
            if let Some(session) = lucid.sessions().await.first() {
                return session["id"].as_str().unwrap().to_owned();
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    })
    .await;
    // Its status message, in the mention's thread.
    lucid
        .slack
        .wait_until("the status message in the thread", |s| {
            s.thread(CHANNEL, ts).first().cloned()
        })
        .await;
    let session = lucid
        .until_session(&id, "the session to end", |s| {
            ["completed", "failed", "cancelled"].contains(&s["state"].as_str().unwrap_or(""))
        })
        .await;
    assert_eq!(session["state"], "completed", "{session}\n{}", lucid.log());
    // Decided now: a late retry is a duplicate, and one session in all.
    let (status, late) = lucid.slack_event(&asked, Some(2)).await;
    assert_eq!(
        (status, &late["duplicate"]),
        (200, &serde_json::json!(true))
    );
    assert_eq!(lucid.sessions().await.len(), 1);
    for token in lucid.github.person_tokens() {
        assert_hidden(&lucid, &token).await;
    }
}
