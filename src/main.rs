use clap::{Parser, Subcommand, ValueEnum};
use lucid::config::Settings;
use lucid::sandbox::DockerEngine;
use lucid::sandbox::image::agents::KnownAgent;
use lucid::sandbox::image::{self, BuildMethod, BuildOptions};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

/// mimalloc instead of glibc's malloc: a busy webhook path spends much of its time
/// allocating small, short-lived buffers from many threads, where glibc's arenas
/// contend and fragment (12% of lucid's CPU under the webhook benchmark).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Transparent huge pages off for this process: mimalloc hands memory back to the
/// kernel and takes it again as load comes and goes, and each time a 2 MiB huge page
/// is faulted in, the thread that touched it waits while the kernel zeroes all of it.
/// Under the Discord benchmark that zeroing was about 5% of lucid's CPU, on whichever
/// thread was answering. Ordinary pages cost a little more in the TLB and never stall
/// a request that long.
/// ring as rustls's back end for the whole process. When a build has a second back
/// end compiled in (a test-only crate brings aws-lc), rustls will not guess, and the
/// first TLS connection would panic.
fn with_ring_for_tls() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

fn without_huge_pages() {
    #[cfg(target_os = "linux")]
    // SAFETY: prctl(2) with PR_SET_THP_DISABLE only sets a flag of the calling process;
    // a failure (an old kernel) leaves huge pages as they were, which is harmless.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

/// lucid: mention the bot, get a coding-agent session in a Docker sandbox.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// A TOML settings file; environment variables override it.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start the HTTP server (webhooks, API, health, metrics).
    Serve,
    /// Check each configured part and say what to do about any failure: each token is
    /// tried with its platform.
    Doctor {
        /// Ask no platform anything (the tokens are then only seen to be set).
        #[arg(long)]
        offline: bool,
    },
    /// What to paste into a platform so it reaches this lucid.
    Setup {
        #[command(subcommand)]
        platform: SetupPlatform,
    },
    /// Run one session from the terminal: clone the repository into a sandbox, let
    /// the agent work on the task, print every step.
    Run {
        /// A local path or a git URL.
        #[arg(long)]
        repo: String,
        /// What to do.
        task: String,
    },
    /// The sandboxes' Docker image.
    Sandbox {
        #[command(subcommand)]
        command: SandboxCommand,
    },
}

#[derive(Subcommand)]
enum SetupPlatform {
    /// Print the Slack app manifest for LUCID_PUBLIC_URL (stdout) and the clicks that
    /// remain (stderr).
    Slack,
    /// Print the invite link with exactly the permissions lucid uses (stdout), and the
    /// interactions endpoint to paste (stderr).
    Discord {
        /// The application's id, when LUCID_DISCORD_APPLICATION_ID is not set yet.
        #[arg(long, value_name = "ID")]
        application_id: Option<String>,
    },
    /// Print the address of lucid's page that has GitHub make lucid's App from its
    /// manifest (stdout), and the steps (stderr); lucid keeps the App sealed and uses
    /// it at once.
    Github {
        /// Make the App for this organization instead of your own account.
        #[arg(long, value_name = "ORG")]
        org: Option<String>,
        /// The App's name (GitHub lets you change it too); by default "lucid".
        #[arg(long, value_name = "NAME")]
        name: Option<String>,
    },
}

#[derive(Subcommand)]
enum SandboxCommand {
    /// Build the sandbox image: from a Dockerfile where a registry answers, otherwise
    /// from a debootstrap root filesystem (needs root and a Debian mirror).
    BuildImage {
        /// The name the image gets.
        #[arg(long, default_value = image::DEFAULT_TAG)]
        tag: String,
        /// How to build it.
        #[arg(long, value_enum, default_value_t = Method::Auto)]
        method: Method,
        /// Where debootstrap builds the root filesystem (about 1 GB for a few minutes).
        /// Disk-backed, not a noexec tmpfs, hence not /tmp.
        #[arg(long, value_name = "DIR", default_value = "/var/tmp")]
        scratch_dir: PathBuf,
        /// External agents to install in the image, comma-separated (claude, gemini,
        /// codex, opencode): Node.js and their npm packages, fetched from the npm
        /// registry while the image is built.
        #[arg(long, value_name = "IDS", value_delimiter = ',', value_parser = agent_id)]
        agents: Vec<&'static KnownAgent>,
        /// Add the agents to this image, already on the engine, instead of building
        /// the image anew.
        #[arg(long, value_name = "IMAGE", requires = "agents")]
        base: Option<String>,
    },
}

/// One of `--agents`' ids, checked against the catalog.
fn agent_id(id: &str) -> Result<&'static KnownAgent, String> {
    image::agents::parse_id(id).map_err(|e| e.to_string())
}

#[derive(Clone, Copy, ValueEnum)]
enum Method {
    /// The Dockerfile if debian:bookworm-slim is on the engine or can be pulled, else debootstrap.
    Auto,
    /// sandbox-image/Dockerfile, on debian:bookworm-slim (pulled if need be).
    Dockerfile,
    /// A debootstrap root filesystem from deb.debian.org, imported into the engine.
    Debootstrap,
}

impl From<Method> for BuildMethod {
    fn from(method: Method) -> Self {
        match method {
            Method::Auto => BuildMethod::Auto,
            Method::Dockerfile => BuildMethod::Dockerfile,
            Method::Debootstrap => BuildMethod::Debootstrap,
        }
    }
}

fn main() -> ExitCode {
    without_huge_pages();
    with_ring_for_tls();
    let cli = Cli::parse();
    // The one place lucid reads its environment.
    let env: BTreeMap<String, String> = std::env::vars().collect();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let load_settings = || {
        let settings = Settings::load(&env, cli.config.as_deref()).map_err(|invalid| {
            eprintln!("error: {invalid}");
            ExitCode::from(2)
        })?;
        // Before any platform's client is built.
        lucid::outbound::set_request_timeout(settings.platform_timeout);
        Ok(settings)
    };
    match cli.command {
        Command::Serve => {
            let settings = match load_settings() {
                Ok(settings) => settings,
                Err(code) => return code,
            };
            lucid::telemetry::init(settings.log_format, &settings.log_filter);
            // Kept alive until the server has stopped, and dropped outside it.
            let _background = match lucid::background::start() {
                Ok(background) => background,
                Err(e) => {
                    eprintln!("error: cannot start the background runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            match runtime.block_on(lucid::serve::run(settings)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!("{e:#}");
                    eprintln!("error: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Doctor { offline } => {
            let report = runtime.block_on(lucid::doctor::run(&env, cli.config.as_deref(), offline));
            print!("{report}");
            if report.passed() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Command::Setup { platform } => {
            let settings = match load_settings() {
                Ok(settings) => settings,
                Err(code) => return code,
            };
            let printed = match platform {
                SetupPlatform::Slack => lucid::setup::slack(&settings.public_url),
                SetupPlatform::Discord { application_id } => {
                    let known = settings.discord.as_ref().map(|d| d.application_id.clone());
                    lucid::setup::discord(&settings.public_url, application_id.or(known).as_deref())
                }
                SetupPlatform::Github { org, name } => {
                    lucid::setup::github(&settings, org.as_deref(), name.as_deref())
                }
            };
            print!("{}", printed.stdout);
            eprint!("{}", printed.stderr);
            ExitCode::SUCCESS
        }
        Command::Run { repo, task } => {
            let settings = match load_settings() {
                Ok(settings) => settings,
                Err(code) => return code,
            };
            lucid::telemetry::init(settings.log_format, "warn");
            let author = env.get("USER").cloned().unwrap_or_else(|| "you".to_owned());
            let request = lucid::run::RunRequest { repo, task, author };
            match runtime.block_on(lucid::run::run(settings, request)) {
                Ok(lucid::agent::JobEnd::Finished { .. }) => ExitCode::SUCCESS,
                Ok(_) => ExitCode::FAILURE,
                Err(e) => {
                    eprintln!("error: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Sandbox {
            command:
                SandboxCommand::BuildImage {
                    tag,
                    method,
                    scratch_dir,
                    agents,
                    base,
                },
        } => {
            let settings = match load_settings() {
                Ok(settings) => settings,
                Err(code) => return code,
            };
            let options = BuildOptions {
                tag,
                method: method.into(),
                scratch_dir,
                agents: image::agents::in_catalog_order(&agents),
            };
            runtime.block_on(build_image(
                &settings.docker_host,
                &options,
                base.as_deref(),
            ))
        }
    }
}

/// `lucid sandbox build-image`: the build's progress line by line, then the image.
/// With `base`, only the agents' layer is built, on that image.
async fn build_image(docker_host: &str, options: &BuildOptions, base: Option<&str>) -> ExitCode {
    let engine = match DockerEngine::new(docker_host) {
        Ok(engine) => engine,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let started = std::time::Instant::now();
    let mut progress = |line: &str| println!("{line}");
    let ids: Vec<&str> = options.agents.iter().map(|a| a.id).collect();
    let with_agents = match ids.as_slice() {
        [] => String::new(),
        ids => format!(", with {}", ids.join(", ")),
    };
    let built = match base {
        Some(base) => {
            image::add_agents(&engine, base, &options.tag, &options.agents, &mut progress)
                .await
                .map(|id| (id, format!("on {base}")))
        }
        None => image::build(&engine, options, &mut progress)
            .await
            .map(|built| (built.id, built.method_used.to_string())),
    };
    match built {
        Ok((id, how)) => {
            println!(
                "built {} {id} ({how}{with_agents}, {} s)",
                options.tag,
                started.elapsed().as_secs()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
