use super::*;
use secrecy::ExposeSecret;
use std::io::Write;

fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn problems(pairs: &[(&str, &str)]) -> Vec<String> {
    Settings::load(&env(pairs), None).unwrap_err().problems
}

#[test]
fn no_settings_at_all_gives_the_embedded_defaults() {
    let s = Settings::load(&env(&[]), None).unwrap();
    assert_eq!(s.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(s.database_url.expose(), "sqlite://lucid.db");
    assert_eq!(s.log_format, LogFormat::Text);
    assert_eq!(s.docker_host, "unix:///var/run/docker.sock");
    assert_eq!(s.sandbox.spec, lucid_default_spec());
    assert_eq!(s.sandbox.pool_size, 2);
    assert_eq!(
        s.sandbox.idle_timeout,
        std::time::Duration::from_secs(30 * 60)
    );
    assert_eq!(s.sandbox.workspaces, std::path::PathBuf::from("workspaces"));
    assert!(s.api_token.is_none() && s.secret_key.is_none());
    assert!(s.github.is_none() && s.slack.is_none() && s.discord.is_none() && s.notion.is_none());
}

#[test]
fn every_bad_setting_is_named_not_only_the_first() {
    let found = problems(&[
        ("LUCID_LISTEN", "not-an-address"),
        ("DATABASE_URL", "mysql://x"),
        ("LUCID_LOG_FORMAT", "xml"),
        ("LUCID_SECRET_KEY", "short"),
        ("LUCID_API_TOKNE", "typo"),
        ("LUCID_SLACK_SIGNING_SECRET", "s3cr3t"),
    ]);
    let expect = [
        "LUCID_LISTEN",
        "DATABASE_URL",
        "LUCID_LOG_FORMAT",
        "LUCID_SECRET_KEY",
        "LUCID_API_TOKNE: unknown setting",
        "LUCID_SLACK_BOT_TOKEN (slack.bot_token): missing: Slack is on because LUCID_SLACK_SIGNING_SECRET is set",
        "LUCID_SLACK_TEAMS (slack.teams): missing: Slack is on because LUCID_SLACK_SIGNING_SECRET is set",
    ];
    for needle in expect {
        assert!(
            found.iter().any(|p| p.contains(needle)),
            "no problem mentions {needle:?} in {found:#?}"
        );
    }
    assert_eq!(found.len(), expect.len(), "{found:#?}");
}

#[test]
fn the_error_message_lists_every_problem_on_its_own_line() {
    let err = Settings::load(
        &env(&[("LUCID_LISTEN", "x"), ("LUCID_LOG_FORMAT", "y")]),
        None,
    )
    .unwrap_err();
    let text = err.to_string();
    assert!(text.starts_with("invalid settings (2 problems):"), "{text}");
    assert_eq!(text.matches("\n  - ").count(), 2, "{text}");
}

#[test]
fn secrets_never_show_in_errors_or_debug_output() {
    let token = "xoxp-this-is-secret-and-wrong";
    let found = problems(&[
        ("LUCID_SLACK_SIGNING_SECRET", "signing-secret-value"),
        ("LUCID_SLACK_BOT_TOKEN", token),
    ]);
    assert!(
        found
            .iter()
            .all(|p| !p.contains(token) && !p.contains("signing-secret-value"))
    );

    let s = Settings::load(
        &env(&[
            ("LUCID_API_TOKEN", "api-token-0123456789"),
            ("DATABASE_URL", "postgres://lucid:hunter2@db/lucid"),
        ]),
        None,
    )
    .unwrap();
    let debug = format!("{s:?}");
    assert!(!debug.contains("api-token-0123456789"), "{debug}");
    assert!(!debug.contains("hunter2"), "{debug}");
    assert_eq!(s.database_url.redacted(), "postgres://lucid:***@db/lucid");
}

#[test]
fn the_file_is_read_and_the_environment_wins_over_it() {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    writeln!(
        file,
        r#"
listen = "0.0.0.0:9000"
log_format = "json"

[github]
webhook_secrets = ["old", "new"]
token = "ghp_file"
"#
    )
    .unwrap();
    let s = Settings::load(
        &env(&[("LUCID_LISTEN", "127.0.0.1:9100")]),
        Some(file.path()),
    )
    .unwrap();
    assert_eq!(s.listen.to_string(), "127.0.0.1:9100");
    assert_eq!(s.log_format, LogFormat::Json);
    let github = s.github.unwrap();
    assert_eq!(github.webhook_secrets.len(), 2);
    assert_eq!(github.bot_login, "lucid");
    assert!(matches!(github.auth, GithubAuth::Token(t) if t.expose_secret() == "ghp_file"));
}

#[test]
fn unknown_keys_in_the_file_are_rejected() {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    writeln!(file, "listn = \"x\"\n[slack]\nbot_tokn = \"y\"").unwrap();
    let found = Settings::load(&env(&[]), Some(file.path()))
        .unwrap_err()
        .problems;
    assert!(
        found.iter().any(|p| p.contains("unknown setting `listn`")),
        "{found:#?}"
    );
    assert!(
        found
            .iter()
            .any(|p| p.contains("unknown setting `slack.bot_tokn`")),
        "{found:#?}"
    );
}

#[test]
fn a_missing_or_broken_file_is_a_clear_error() {
    let found = Settings::load(&env(&[]), Some(Path::new("/nonexistent/lucid.toml")))
        .unwrap_err()
        .problems;
    assert!(found[0].contains("cannot read settings file"), "{found:#?}");

    let mut file = tempfile::NamedTempFile::new().unwrap();
    writeln!(file, "listen = ").unwrap();
    let found = Settings::load(&env(&[]), Some(file.path()))
        .unwrap_err()
        .problems;
    assert!(found[0].contains("not valid TOML"), "{found:#?}");
}

#[test]
fn github_needs_one_way_to_authenticate() {
    let found = problems(&[("LUCID_GITHUB_WEBHOOK_SECRETS", "s")]);
    assert!(
        found[0].starts_with("LUCID_GITHUB_TOKEN (github.token): missing"),
        "{found:#?}"
    );

    let found = problems(&[
        ("LUCID_GITHUB_WEBHOOK_SECRETS", "s"),
        ("LUCID_GITHUB_TOKEN", "t"),
        ("LUCID_GITHUB_APP_ID", "12"),
    ]);
    assert!(found.iter().any(|p| p.contains("not both")), "{found:#?}");

    let found = problems(&[
        ("LUCID_GITHUB_WEBHOOK_SECRETS", "s"),
        ("LUCID_GITHUB_APP_ID", "x"),
    ]);
    assert!(
        found.iter().any(|p| p.contains("not a GitHub App id")),
        "{found:#?}"
    );
    assert!(
        found.iter().any(|p| p.contains("needs its private key")),
        "{found:#?}"
    );
}

#[test]
fn webhook_secrets_are_a_comma_separated_list() {
    let s = Settings::load(
        &env(&[
            ("LUCID_GITHUB_WEBHOOK_SECRETS", "one, two ,,three"),
            ("LUCID_GITHUB_TOKEN", "t"),
        ]),
        None,
    )
    .unwrap();
    let secrets: Vec<_> = s
        .github
        .unwrap()
        .webhook_secrets
        .iter()
        .map(|s| s.expose_secret().to_owned())
        .collect();
    assert_eq!(secrets, ["one", "two", "three"]);
}

#[test]
fn complete_platforms_load() {
    let s = Settings::load(
        &env(&[
            ("LUCID_SLACK_SIGNING_SECRET", "s"),
            ("LUCID_SLACK_BOT_TOKEN", "xoxb-1"),
            ("LUCID_SLACK_TEAMS", "T1"),
            ("LUCID_DISCORD_APPLICATION_ID", "1"),
            ("LUCID_DISCORD_PUBLIC_KEY", &"ab".repeat(32)),
            ("LUCID_DISCORD_BOT_TOKEN", "t"),
            ("LUCID_DISCORD_GUILDS", "2"),
            ("LUCID_NOTION_TOKEN", "secret_x"),
            (
                "LUCID_NOTION_DATABASES",
                "https://www.notion.so/acme/Tasks-0123456789ABCDEF0123456789abcdef?v=1",
            ),
        ]),
        None,
    )
    .unwrap();
    assert!(s.slack.is_some() && s.discord.is_some());
    let notion = s.notion.unwrap();
    assert_eq!(notion.databases, ["0123456789abcdef0123456789abcdef"]);
    assert_eq!(notion.statuses.trigger, "Ready for agent");
    assert_eq!(notion.statuses.failed, "Blocked");
    assert_eq!(
        notion.poll_interval,
        Some(std::time::Duration::from_secs(30))
    );
}

#[test]
fn notion_names_what_is_missing_or_wrong() {
    let problems = |pairs: &[(&str, &str)]| match Settings::load(&env(pairs), None) {
        Ok(_) => Vec::new(),
        Err(invalid) => invalid.problems,
    };
    let missing = problems(&[("LUCID_NOTION_TOKEN", "secret_x")]);
    assert!(
        missing
            .iter()
            .any(|p| p.contains("LUCID_NOTION_DATABASES") && p.contains("task databases")),
        "{missing:?}"
    );
    let wrong = problems(&[
        ("LUCID_NOTION_TOKEN", "secret_x"),
        ("LUCID_NOTION_DATABASES", "not-an-id"),
        ("LUCID_NOTION_IN_REVIEW_STATUS", "Ready for agent"),
        ("LUCID_NOTION_POLL_INTERVAL", "10ms"),
    ]);
    let text = wrong.join("\n");
    assert!(
        text.contains("\"not-an-id\" is neither a database id"),
        "{text}"
    );
    assert!(text.contains("four different values"), "{text}");
    assert!(text.contains("shorter than a second"), "{text}");
    let off = Settings::load(
        &env(&[
            ("LUCID_NOTION_TOKEN", "secret_x"),
            (
                "LUCID_NOTION_DATABASES",
                "01234567-89ab-cdef-0123-456789abcdef",
            ),
            ("LUCID_NOTION_POLL_INTERVAL", "off"),
            (
                "LUCID_NOTION_DATABASE_REPOS",
                "01234567-89ab-cdef-0123-456789abcdef=acme/app",
            ),
        ]),
        None,
    )
    .unwrap()
    .notion
    .unwrap();
    assert_eq!(off.poll_interval, None);
    assert_eq!(
        off.database_repo("0123456789abcdef0123456789abcdef")
            .map(|r| r.to_string()),
        Some("acme/app".to_owned())
    );
}

#[test]
fn empty_variables_count_as_unset() {
    let s = Settings::load(
        &env(&[("LUCID_LISTEN", ""), ("LUCID_SLACK_BOT_TOKEN", "")]),
        None,
    )
    .unwrap();
    assert_eq!(s.listen.to_string(), "127.0.0.1:8080");
    assert!(s.slack.is_none());
}

#[test]
fn prepared_sandboxes_are_kept_a_week_within_20g_by_default_and_settable() {
    let unset = Settings::load(&env(&[]), None)
        .unwrap()
        .sandbox
        .spec
        .prepared;
    assert_eq!(unset.max_age, std::time::Duration::from_secs(7 * 24 * 3600));
    assert_eq!(unset.max_size, 20 << 30);
    assert_eq!(unset.setup_timeout, std::time::Duration::from_secs(30 * 60));
    let set = Settings::load(
        &env(&[
            ("LUCID_PREPARED_MAX_AGE", "2d"),
            ("LUCID_PREPARED_MAX_SIZE", "500m"),
            ("LUCID_SETUP_TIMEOUT", "10m"),
        ]),
        None,
    )
    .unwrap()
    .sandbox
    .spec
    .prepared;
    assert_eq!(set.max_age, std::time::Duration::from_secs(2 * 24 * 3600));
    assert_eq!(set.max_size, 500 << 20);
    assert_eq!(set.setup_timeout, std::time::Duration::from_secs(600));
    let found = problems(&[
        ("LUCID_PREPARED_MAX_AGE", "a while"),
        ("LUCID_PREPARED_MAX_SIZE", "big"),
        ("LUCID_SETUP_TIMEOUT", "0s"),
    ]);
    for name in [
        "LUCID_PREPARED_MAX_AGE",
        "LUCID_PREPARED_MAX_SIZE",
        "LUCID_SETUP_TIMEOUT",
    ] {
        assert!(found.iter().any(|p| p.contains(name)), "{name}: {found:?}");
    }
}

fn lucid_default_spec() -> crate::sandbox::SandboxSpec {
    // The settings' default network is `registries`; the spec's own stays `off`.
    crate::sandbox::SandboxSpec::default().network(crate::sandbox::Network::Registries)
}

#[test]
fn sandbox_limits_are_read_and_checked() {
    let s = Settings::load(
        &env(&[
            ("LUCID_SANDBOX_MEMORY", "512m"),
            ("LUCID_SANDBOX_CPUS", "0.5"),
            ("LUCID_SANDBOX_NETWORK", "bridge"),
            ("LUCID_SANDBOX_IMAGE", "registry.example/tools:7"),
        ]),
        None,
    )
    .unwrap();
    let spec = &s.sandbox.spec;
    assert_eq!(spec.memory_bytes, 512 << 20);
    assert_eq!(spec.cpu_millis, 500);
    assert_eq!(spec.network, crate::sandbox::Network::Bridge);
    assert_eq!(spec.image, "registry.example/tools:7");

    let found = problems(&[
        ("LUCID_SANDBOX_MEMORY", "huge"),
        ("LUCID_SANDBOX_PIDS", "3"),
        ("LUCID_SANDBOX_LIFETIME", "forever"),
        ("LUCID_SANDBOX_POOL_SIZE", "-1"),
    ]);
    assert_eq!(found.len(), 4, "{found:#?}");
}

#[test]
fn the_registries_network_reads_its_allow_list_and_pins() {
    use crate::sandbox::Network;
    let s = Settings::load(
        &env(&[
            ("LUCID_SANDBOX_NETWORK", "registries"),
            ("LUCID_REGISTRY_HOSTS", "defaults, *.Mirror.example"),
            (
                "LUCID_REGISTRY_PINS",
                "registry.test=127.0.0.1:8080,v6.test=[::1]:81",
            ),
        ]),
        None,
    )
    .unwrap();
    let spec = &s.sandbox.spec;
    assert_eq!(spec.network, Network::Registries);
    let hosts = &spec.registries.hosts;
    assert!(hosts.allows("pypi.org") && hosts.allows("a.mirror.example"));
    assert!(!hosts.allows("github.com"));
    let pins = &spec.registries.pins;
    assert_eq!(pins["registry.test"], "127.0.0.1:8080".parse().unwrap());
    assert_eq!(pins["v6.test"], "[::1]:81".parse().unwrap());

    // Unset, the built-in list; without the word `defaults`, a list of its own.
    let unset = Settings::load(&env(&[]), None).unwrap().sandbox.spec;
    assert_eq!(
        (unset.network, unset.registries.hosts.allows("pypi.org")),
        (Network::Registries, true)
    );
    assert!(unset.registries.pins.is_empty());
    let only = Settings::load(&env(&[("LUCID_REGISTRY_HOSTS", "mirror.example")]), None).unwrap();
    let hosts = &only.sandbox.spec.registries.hosts;
    assert!(hosts.allows("mirror.example") && !hosts.allows("pypi.org"));

    let found = problems(&[
        ("LUCID_SANDBOX_NETWORK", "internet"),
        ("LUCID_REGISTRY_HOSTS", "http://pypi.org"),
        ("LUCID_REGISTRY_PINS", "registry.test=localhost"),
    ]);
    assert_eq!(found.len(), 3, "{found:#?}");
    for name in [
        "LUCID_SANDBOX_NETWORK",
        "LUCID_REGISTRY_HOSTS",
        "LUCID_REGISTRY_PINS",
    ] {
        assert!(
            found.iter().any(|p| p.starts_with(name)),
            "{name}: {found:#?}"
        );
    }
}

#[test]
fn the_registry_settings_read_as_lists_from_the_file() {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    writeln!(
        file,
        r#"
[sandbox]
network = "registries"
registry_hosts = ["pypi.org", "*.corp.example"]
registry_pins = ["pypi.corp.example=10.0.0.5:3141"]
"#
    )
    .unwrap();
    let s = Settings::load(&env(&[]), Some(file.path())).unwrap();
    let policy = &s.sandbox.spec.registries;
    assert!(policy.hosts.allows("pypi.org") && policy.hosts.allows("pypi.corp.example"));
    assert!(!policy.hosts.allows("files.pythonhosted.org"));
    assert_eq!(
        policy.pins["pypi.corp.example"],
        "10.0.0.5:3141".parse().unwrap()
    );
}

#[test]
fn slack_reads_its_allow_lists_and_channel_repositories() {
    let s = Settings::load(
        &env(&[
            ("LUCID_SLACK_SIGNING_SECRET", "s"),
            ("LUCID_SLACK_BOT_TOKEN", "xoxb-1"),
            ("LUCID_SLACK_TEAMS", "T1, T2"),
            ("LUCID_SLACK_USERS", "U1"),
            ("LUCID_SLACK_CHANNEL_REPOS", "C1=acme/app, *=acme/mono"),
            ("LUCID_SLACK_API_URL", "http://127.0.0.1:9/api/"),
        ]),
        None,
    )
    .unwrap();
    let slack = s.slack.unwrap();
    assert_eq!(slack.teams, ["T1", "T2"]);
    assert_eq!(slack.users, ["U1"]);
    assert!(slack.channels.is_empty());
    assert_eq!(slack.channel_repo("C1").unwrap().to_string(), "acme/app");
    assert_eq!(slack.channel_repo("C9").unwrap().to_string(), "acme/mono");
    assert_eq!(slack.api_url, "http://127.0.0.1:9/api");
    assert_eq!(slack.edit_interval, std::time::Duration::from_secs(2));
}

#[test]
fn slack_names_every_bad_channel_repository_and_missing_workspaces() {
    let found = problems(&[
        ("LUCID_SLACK_SIGNING_SECRET", "s"),
        ("LUCID_SLACK_BOT_TOKEN", "xoxb-1"),
        ("LUCID_SLACK_CHANNEL_REPOS", "C1=acme/app,C2,C3=not a repo"),
    ]);
    for needle in [
        "LUCID_SLACK_TEAMS (slack.teams): missing",
        "\"C2\" is not CHANNEL=owner/repo",
        "\"C3=not a repo\" is not CHANNEL=owner/repo",
    ] {
        assert!(
            found.iter().any(|p| p.contains(needle)),
            "no {needle:?} in {found:#?}"
        );
    }
    assert_eq!(found.len(), 3, "{found:#?}");
}

#[test]
fn discord_needs_its_servers_and_reads_its_lists() {
    let base = [
        ("LUCID_DISCORD_APPLICATION_ID", "1"),
        ("LUCID_DISCORD_PUBLIC_KEY", "ab".repeat(32).leak() as &str),
        ("LUCID_DISCORD_BOT_TOKEN", "t"),
    ];
    let problems = Settings::load(&env(&base), None).unwrap_err().to_string();
    assert!(problems.contains("LUCID_DISCORD_GUILDS"), "{problems}");
    let mut full = base.to_vec();
    full.extend([
        ("LUCID_DISCORD_GUILDS", "10, 11"),
        ("LUCID_DISCORD_ROLES", "20"),
        ("LUCID_DISCORD_CHANNEL_REPOS", "30=acme/app,*=acme/web"),
        ("LUCID_DISCORD_GATEWAY", "off"),
        ("LUCID_DISCORD_MESSAGE_CONTENT", "on"),
    ]);
    let discord = Settings::load(&env(&full), None).unwrap().discord.unwrap();
    assert_eq!(discord.guilds, ["10", "11"]);
    assert_eq!(discord.roles, ["20"]);
    assert!(!discord.gateway && discord.message_content);
    assert_eq!(discord.api_url, "https://discord.com");
    assert_eq!(discord.channel_repo("30").unwrap().to_string(), "acme/app");
    assert_eq!(discord.channel_repo("31").unwrap().to_string(), "acme/web");
    full.push(("LUCID_DISCORD_GATEWAY", "maybe"));
    let problems = Settings::load(&env(&full), None).unwrap_err().to_string();
    assert!(problems.contains("neither on nor off"), "{problems}");
}
