//! Every setting lucid knows, in one table: its environment variable, its key in the
//! TOML file, its default and what it is for. The loader reads through it, refuses
//! anything not in it, and a test checks the README lists every entry.

pub struct Setting {
    pub env: &'static str,
    /// Dotted key in the TOML file: `listen`, `github.token`.
    pub file: &'static str,
    pub default: Option<&'static str>,
    pub help: &'static str,
}

const fn setting(
    env: &'static str,
    file: &'static str,
    default: Option<&'static str>,
    help: &'static str,
) -> Setting {
    Setting {
        env,
        file,
        default,
        help,
    }
}

pub const SETTINGS: &[Setting] = &[
    setting(
        "LUCID_CONFIG",
        "",
        None,
        "Path of a TOML settings file (same as --config).",
    ),
    setting(
        "LUCID_LISTEN",
        "listen",
        Some("127.0.0.1:8080"),
        "Address the HTTP server listens on.",
    ),
    setting(
        "LUCID_PUBLIC_URL",
        "public_url",
        None,
        "The URL people reach lucid at, for session links in threads; default http://<LUCID_LISTEN>.",
    ),
    setting(
        "LUCID_MAX_SESSIONS",
        "max_sessions",
        Some("4"),
        "Sessions this lucid runs at once; more wait queued.",
    ),
    setting(
        "LUCID_DRAFT_ON_BUDGET",
        "draft_on_budget",
        Some("on"),
        "`on`: a session that runs out of a budget (steps, tokens, cost) with changes opens a draft pull request saying so. `off`: it only fails.",
    ),
    setting(
        "DATABASE_URL",
        "database_url",
        Some("sqlite://lucid.db"),
        "The store: a sqlite:// file (created if missing) or a postgres:// server.",
    ),
    setting(
        "LUCID_LOG_FORMAT",
        "log_format",
        Some("text"),
        "`text` or `json` log lines.",
    ),
    setting(
        "LUCID_LOG",
        "log",
        Some("info"),
        "Log filter, in tracing's EnvFilter syntax (e.g. `info,lucid=debug`).",
    ),
    setting(
        "LUCID_API_TOKEN",
        "api_token",
        None,
        "Bearer token for /api/v1. Without it the API answers 401.",
    ),
    setting(
        "LUCID_SECRET_KEY",
        "secret_key",
        None,
        "32-byte key (base64 or hex) that encrypts stored credentials. `openssl rand -base64 32` makes one.",
    ),
    setting(
        "LUCID_UI_PASSWORD",
        "ui_password",
        None,
        "A second password for signing in to lucid's pages (the API token also works), at least 12 characters.",
    ),
    setting(
        "LUCID_SHARE_LINKS",
        "share_links",
        Some("on"),
        "`on`: the session links lucid posts carry a share token that opens that one session read-only without signing in. `off`: every page needs signing in.",
    ),
    setting(
        "DOCKER_HOST",
        "docker_host",
        Some("unix:///var/run/docker.sock"),
        "Docker engine for sandboxes: unix:///path or tcp://host:port.",
    ),
    setting(
        "LUCID_SANDBOX_IMAGE",
        "sandbox.image",
        Some("lucid-sandbox:latest"),
        "Image sandboxes run (`lucid sandbox build-image` builds the default).",
    ),
    setting(
        "LUCID_SANDBOX_MEMORY",
        "sandbox.memory",
        Some("2g"),
        "Memory limit of each sandbox (no swap beyond it): bytes, or k, m, g.",
    ),
    setting(
        "LUCID_SANDBOX_CPUS",
        "sandbox.cpus",
        Some("1"),
        "CPUs each sandbox may use, e.g. 0.5 or 2.",
    ),
    setting(
        "LUCID_SANDBOX_PIDS",
        "sandbox.pids",
        Some("512"),
        "Most processes a sandbox may run at once (stops fork bombs).",
    ),
    setting(
        "LUCID_SANDBOX_NETWORK",
        "sandbox.network",
        Some("registries"),
        "`off` (no network at all), `registries` (an internal network whose only way out is lucid's proxy to the package registries on LUCID_REGISTRY_HOSTS) or `bridge` (everything).",
    ),
    setting(
        "LUCID_REGISTRY_HOSTS",
        "sandbox.registry_hosts",
        Some("defaults"),
        "Hosts the registry proxy lets `registries` sandboxes reach, comma-separated: `pypi.org`, `*.example.org` (names under it), an IP literal only written out; `defaults` stands for the built-in list of Python, JavaScript, Rust, Go, Ruby and Java registries and Debian's mirrors (`defaults,mirror.example.org` adds to it). Private and link-local addresses are refused whatever a name resolves to.",
    ),
    setting(
        "LUCID_REPO_SETUP",
        "sandbox.repo_setup",
        None,
        "Setups for repositories without a `.lucid/setup.sh` of their own: `owner/name=command` entries, comma-separated (a list in the file when a command has a comma), each run as the repository's setup.",
    ),
    setting(
        "LUCID_REGISTRY_PINS",
        "sandbox.registry_pins",
        None,
        "Names pinned to an address, as curl's --resolve: `registry.internal=10.0.0.5:8080`, comma-separated. A pinned name is allowed and reached at exactly that address, even a private one: for an internal mirror.",
    ),
    setting(
        "LUCID_SANDBOX_LIFETIME",
        "sandbox.lifetime",
        Some("2h"),
        "Wall-clock limit of a sandbox, after which it is destroyed.",
    ),
    setting(
        "LUCID_SANDBOX_IDLE_TIMEOUT",
        "sandbox.idle_timeout",
        Some("30m"),
        "A sandbox unused this long is destroyed.",
    ),
    setting(
        "LUCID_SANDBOX_POOL_SIZE",
        "sandbox.pool_size",
        Some("2"),
        "Warm sandboxes kept ready so sessions start at once (0 turns the pool off).",
    ),
    setting(
        "LUCID_WORKSPACES_DIR",
        "sandbox.workspaces_dir",
        Some("workspaces"),
        "Host directory holding each sandbox's /workspace.",
    ),
    setting(
        "LUCID_PREPARED_MAX_AGE",
        "sandbox.prepared_max_age",
        Some("7d"),
        "How long a repository's prepared sandbox (its .lucid/setup.sh run once and kept as an image) is reused; older ones are made again and removed.",
    ),
    setting(
        "LUCID_PREPARED_MAX_SIZE",
        "sandbox.prepared_max_size",
        Some("20g"),
        "Most disk the prepared images may take together (their own layers); beyond it the oldest are removed.",
    ),
    setting(
        "LUCID_SETUP_TIMEOUT",
        "sandbox.setup_timeout",
        Some("30m"),
        "Longest a repository's setup may run; a setup killed at it fails its session.",
    ),
    setting(
        "LUCID_LLM_PROVIDER",
        "llm.provider",
        Some("openai"),
        "`openai` (any OpenAI-compatible chat-completions API) or `anthropic`.",
    ),
    setting(
        "LUCID_LLM_BASE_URL",
        "llm.base_url",
        None,
        "The API's base URL; default https://api.openai.com/v1 or https://api.anthropic.com.",
    ),
    setting(
        "LUCID_LLM_MODEL",
        "llm.model",
        None,
        "The model sessions use, e.g. gpt-4.1 or claude-sonnet-4-5.",
    ),
    setting(
        "LUCID_LLM_API_KEY",
        "llm.api_key",
        None,
        "The model provider's API key.",
    ),
    setting(
        "LUCID_LLM_STREAM",
        "llm.stream",
        Some("true"),
        "Stream the model's answers (`false` for servers that only answer whole).",
    ),
    setting(
        "LUCID_LLM_PRICE_INPUT",
        "llm.price_input",
        Some("0"),
        "US dollars per million input tokens, for the cost shown and its budget.",
    ),
    setting(
        "LUCID_LLM_PRICE_OUTPUT",
        "llm.price_output",
        Some("0"),
        "US dollars per million output tokens.",
    ),
    setting(
        "LUCID_AGENT_MAX_STEPS",
        "agent.max_steps",
        Some("60"),
        "Most model turns a session may take.",
    ),
    setting(
        "LUCID_AGENT_MAX_TOKENS",
        "agent.max_tokens",
        Some("3000000"),
        "Most tokens (in + out) a session may use.",
    ),
    setting(
        "LUCID_AGENT_MAX_COST",
        "agent.max_cost",
        Some("10"),
        "Most a session may cost, in US dollars (needs the prices above).",
    ),
    setting(
        "LUCID_AGENT_COMMAND_TIMEOUT",
        "agent.command_timeout",
        Some("10m"),
        "Longest one command of the agent may run.",
    ),
    setting(
        "LUCID_AGENTS",
        "agents.external",
        None,
        "External agents over the Agent Client Protocol, comma-separated: a known id (`claude`, `gemini`, `codex`, `opencode`) or `id=provider:command line` (provider `anthropic`, `openai` or `google`), run inside the sandbox.",
    ),
    setting(
        "LUCID_DEFAULT_AGENT",
        "agents.default",
        None,
        "The agent a request runs with unless it names one (`with gemini: ...`): `built-in` or an id from LUCID_AGENTS; default `built-in` when a model is set, else the first external agent.",
    ),
    setting(
        "LUCID_AGENT_PERMISSIONS",
        "agents.permissions",
        Some("allow"),
        "What an external agent's permission requests get: `allow` (the sandbox is the boundary) or `ask` (posted in the thread with Allow and Reject).",
    ),
    setting(
        "LUCID_AGENT_PERMISSION_TIMEOUT",
        "agents.permission_timeout",
        Some("10m"),
        "How long an asked permission waits for an answer before it is rejected.",
    ),
    setting(
        "LUCID_AGENT_IDLE_TIMEOUT",
        "agents.idle_timeout",
        Some("10m"),
        "How long an external agent may say nothing during a turn before its session fails.",
    ),
    setting(
        "LUCID_ANTHROPIC_API_KEY",
        "providers.anthropic_api_key",
        None,
        "Anthropic's key for external agents, used only by lucid's model gateway on the host (default: LUCID_LLM_API_KEY when LUCID_LLM_PROVIDER is anthropic).",
    ),
    setting(
        "LUCID_ANTHROPIC_URL",
        "providers.anthropic_url",
        Some("https://api.anthropic.com"),
        "Where the gateway sends Anthropic requests.",
    ),
    setting(
        "LUCID_OPENAI_API_KEY",
        "providers.openai_api_key",
        None,
        "OpenAI's key for external agents, used only by the model gateway (default: LUCID_LLM_API_KEY when LUCID_LLM_PROVIDER is openai).",
    ),
    setting(
        "LUCID_OPENAI_URL",
        "providers.openai_url",
        Some("https://api.openai.com"),
        "Where the gateway sends OpenAI requests (the origin, without /v1).",
    ),
    setting(
        "LUCID_GOOGLE_API_KEY",
        "providers.google_api_key",
        None,
        "Google's Gemini API key for external agents, used only by the model gateway.",
    ),
    setting(
        "LUCID_GOOGLE_URL",
        "providers.google_url",
        Some("https://generativelanguage.googleapis.com"),
        "Where the gateway sends Gemini requests.",
    ),
    setting(
        "LUCID_GITHUB_WEBHOOK_SECRETS",
        "github.webhook_secrets",
        None,
        "Webhook secrets, comma-separated; several are accepted so a secret can rotate.",
    ),
    setting(
        "LUCID_GITHUB_TOKEN",
        "github.token",
        None,
        "A personal access token (the simple start), or use a GitHub App below.",
    ),
    setting(
        "LUCID_GITHUB_APP_ID",
        "github.app_id",
        None,
        "GitHub App id (with github.private_key_path).",
    ),
    setting(
        "LUCID_GITHUB_PRIVATE_KEY_PATH",
        "github.private_key_path",
        None,
        "PEM file of the GitHub App's private key.",
    ),
    setting(
        "LUCID_GITHUB_BOT_LOGIN",
        "github.bot_login",
        Some("lucid"),
        "The login people mention (@lucid) and whose comments never trigger.",
    ),
    setting(
        "LUCID_GITHUB_API_URL",
        "github.api_url",
        Some("https://api.github.com"),
        "GitHub's REST API (GitHub Enterprise: https://HOST/api/v3).",
    ),
    setting(
        "LUCID_GITHUB_TRIGGER_LABEL",
        "github.trigger_label",
        Some("lucid"),
        "Labelling an issue with this starts a session on it.",
    ),
    setting(
        "LUCID_GITHUB_EDIT_INTERVAL",
        "github.edit_interval",
        Some("3s"),
        "Least time between two edits of a progress comment (GitHub limits content writes).",
    ),
    setting(
        "LUCID_SLACK_SIGNING_SECRET",
        "slack.signing_secret",
        None,
        "Slack app's signing secret (Basic Information page).",
    ),
    setting(
        "LUCID_SLACK_BOT_TOKEN",
        "slack.bot_token",
        None,
        "Slack bot token, xoxb-….",
    ),
    setting(
        "LUCID_SLACK_TEAMS",
        "slack.teams",
        None,
        "Slack workspaces (team ids, T…) lucid answers; required with Slack. Comma-separated.",
    ),
    setting(
        "LUCID_SLACK_CHANNELS",
        "slack.channels",
        None,
        "Only these channel ids (C…) may start sessions; unset: every channel the bot is in.",
    ),
    setting(
        "LUCID_SLACK_USERS",
        "slack.users",
        None,
        "Only these user ids (U…) may start or stop sessions; unset: everyone in the workspaces.",
    ),
    setting(
        "LUCID_SLACK_CHANNEL_REPOS",
        "slack.channel_repos",
        None,
        "Each channel's default repository, CHANNEL=owner/repo, comma-separated; * for every channel.",
    ),
    setting(
        "LUCID_SLACK_API_URL",
        "slack.api_url",
        Some("https://slack.com/api"),
        "Slack's Web API.",
    ),
    setting(
        "LUCID_SLACK_EDIT_INTERVAL",
        "slack.edit_interval",
        Some("2s"),
        "Least time between two updates of a session's status message.",
    ),
    setting(
        "LUCID_DISCORD_APPLICATION_ID",
        "discord.application_id",
        None,
        "Discord application id.",
    ),
    setting(
        "LUCID_DISCORD_PUBLIC_KEY",
        "discord.public_key",
        None,
        "Discord application's public key (hex), for interaction signatures.",
    ),
    setting(
        "LUCID_DISCORD_BOT_TOKEN",
        "discord.bot_token",
        None,
        "Discord bot token (Bot page of the application).",
    ),
    setting(
        "LUCID_DISCORD_GUILDS",
        "discord.guilds",
        None,
        "Discord servers (guild ids) lucid answers and registers /lucid in; required with Discord. Comma-separated.",
    ),
    setting(
        "LUCID_DISCORD_CHANNELS",
        "discord.channels",
        None,
        "Only these channel ids may start sessions; unset: every channel the bot can see.",
    ),
    setting(
        "LUCID_DISCORD_ROLES",
        "discord.roles",
        None,
        "Only people with one of these role ids may start or stop sessions; unset: no role needed.",
    ),
    setting(
        "LUCID_DISCORD_USERS",
        "discord.users",
        None,
        "Only these user ids may start or stop sessions; unset: everyone in the servers.",
    ),
    setting(
        "LUCID_DISCORD_CHANNEL_REPOS",
        "discord.channel_repos",
        None,
        "Each channel's default repository, CHANNEL=owner/repo, comma-separated; * for every channel.",
    ),
    setting(
        "LUCID_DISCORD_API_URL",
        "discord.api_url",
        Some("https://discord.com"),
        "Where Discord's API is reached; another https origin receives what is meant for discord.com.",
    ),
    setting(
        "LUCID_DISCORD_CA_FILE",
        "discord.ca_file",
        None,
        "PEM certificate authority trusted for LUCID_DISCORD_API_URL, besides the usual ones.",
    ),
    setting(
        "LUCID_DISCORD_GATEWAY",
        "discord.gateway",
        Some("on"),
        "Connect to Discord's gateway for mentions of the bot; off: only /lucid and the Stop button.",
    ),
    setting(
        "LUCID_DISCORD_MESSAGE_CONTENT",
        "discord.message_content",
        Some("off"),
        "on when the privileged Message Content intent is granted: every message in a session's thread reaches its agent.",
    ),
    setting(
        "LUCID_DISCORD_EDIT_INTERVAL",
        "discord.edit_interval",
        Some("1s"),
        "Least time between two edits of a session's status message.",
    ),
    setting(
        "LUCID_NOTION_TOKEN",
        "notion.token",
        None,
        "Notion internal integration secret (the integration's Configuration tab).",
    ),
    setting(
        "LUCID_NOTION_DATABASES",
        "notion.databases",
        None,
        "Task databases (ids or URLs) lucid takes tasks from; required with Notion. Comma-separated.",
    ),
    setting(
        "LUCID_NOTION_WEBHOOK_SECRET",
        "notion.webhook_secret",
        None,
        "The verification token Notion sent to /webhooks/notion (lucid logs it, and doctor shows it); unset: webhook events are refused, polling still works.",
    ),
    setting(
        "LUCID_NOTION_DATABASE_REPOS",
        "notion.database_repos",
        None,
        "Each database's default repository, DATABASE=owner/repo, comma-separated; * for every database.",
    ),
    setting(
        "LUCID_NOTION_REPO_PROPERTY",
        "notion.repo_property",
        Some("Repo"),
        "The page property naming the task's repository (select, rich text or URL); its value beats the database's default.",
    ),
    setting(
        "LUCID_NOTION_AGENT_PROPERTY",
        "notion.agent_property",
        Some("Agent"),
        "The page property naming the agent a task runs with (select or rich text, an id such as `gemini`); a page without it gets the default agent.",
    ),
    setting(
        "LUCID_NOTION_STATUS_PROPERTY",
        "notion.status_property",
        Some("Status"),
        "The status property lucid reads and writes (a Notion status property, not a select).",
    ),
    setting(
        "LUCID_NOTION_TRIGGER_STATUS",
        "notion.trigger_status",
        Some("Ready for agent"),
        "A page moved to this status is handed to lucid.",
    ),
    setting(
        "LUCID_NOTION_IN_PROGRESS_STATUS",
        "notion.in_progress_status",
        Some("In progress"),
        "The status lucid sets when it takes a task; moving a page out of it by hand stops its session.",
    ),
    setting(
        "LUCID_NOTION_IN_REVIEW_STATUS",
        "notion.in_review_status",
        Some("In review"),
        "The status lucid sets when a session ends with its work done.",
    ),
    setting(
        "LUCID_NOTION_FAILED_STATUS",
        "notion.failed_status",
        Some("Blocked"),
        "The status lucid sets when a session fails.",
    ),
    setting(
        "LUCID_NOTION_PR_PROPERTY",
        "notion.pr_property",
        Some("PR"),
        "The URL property lucid writes the pull request's address to.",
    ),
    setting(
        "LUCID_NOTION_POLL_INTERVAL",
        "notion.poll_interval",
        Some("30s"),
        "How often each database is read for tasks, moves and comments (at least 1s); off: webhooks only.",
    ),
    setting(
        "LUCID_NOTION_COMMENT_INTERVAL",
        "notion.comment_interval",
        Some("1m"),
        "Least time between two comments of a session's key moments (the ending is never held back).",
    ),
    setting(
        "LUCID_NOTION_API_URL",
        "notion.api_url",
        Some("https://api.notion.com/v1"),
        "Where Notion's API is reached.",
    ),
];

pub fn by_env(env: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|s| s.env == env)
}

pub fn by_file_key(key: &str) -> Option<&'static Setting> {
    SETTINGS
        .iter()
        .find(|s| !s.file.is_empty() && s.file == key)
}
