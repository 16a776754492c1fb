//! External agents (programs speaking the Agent Client Protocol in the sandbox), which
//! agent a request runs with by default, and the model providers' keys the gateway
//! puts in their requests.

use super::agent::{LlmSettings, Provider};
use super::reader::Reader;
use secrecy::SecretString;
use std::time::Duration;

/// The model API an external agent talks to, through lucid's gateway.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ModelProvider {
    Anthropic,
    OpenAi,
    Google,
}

impl ModelProvider {
    pub const ALL: [ModelProvider; 3] = [
        ModelProvider::Anthropic,
        ModelProvider::OpenAi,
        ModelProvider::Google,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ModelProvider::Anthropic => "anthropic",
            ModelProvider::OpenAi => "openai",
            ModelProvider::Google => "google",
        }
    }

    pub fn parse(s: &str) -> Option<ModelProvider> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

/// One configured external agent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExternalAgent {
    /// What a person names it by (`with gemini: ...`).
    pub id: String,
    /// The command line run in the sandbox, split as a shell would.
    pub command: Vec<String>,
    pub provider: ModelProvider,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PermissionPolicy {
    /// Every request is allowed (the sandbox is the boundary).
    Allow,
    /// Asked in the thread; rejected when nobody answers in time.
    Ask,
}

/// Where the gateway sends a provider's requests, with which key.
#[derive(Debug)]
pub struct ProviderKey {
    pub provider: ModelProvider,
    /// The provider's origin, without a trailing slash: request paths follow it.
    pub base_url: String,
    pub api_key: SecretString,
}

#[derive(Debug)]
pub struct AgentsSettings {
    pub external: Vec<ExternalAgent>,
    /// The agent a request runs with unless it names one; None: the built-in one
    /// when a model is set, else the first external agent.
    pub default: Option<String>,
    pub permissions: PermissionPolicy,
    pub permission_timeout: Duration,
    pub idle_timeout: Duration,
    pub providers: Vec<ProviderKey>,
}

/// The id of lucid's own agent.
pub const BUILT_IN: &str = "built-in";

impl AgentsSettings {
    /// The key for `provider`, when one is set.
    pub fn provider(&self, provider: ModelProvider) -> Option<&ProviderKey> {
        self.providers.iter().find(|p| p.provider == provider)
    }
}

pub(super) fn read(r: &mut Reader, llm: Option<&LlmSettings>) -> Option<AgentsSettings> {
    let external = external(r);
    let default = r.text("LUCID_DEFAULT_AGENT");
    let permissions = r.parsed("LUCID_AGENT_PERMISSIONS", |s| match s {
        "allow" => Ok(PermissionPolicy::Allow),
        "ask" => Ok(PermissionPolicy::Ask),
        other => Err(format!("{other:?} is neither allow nor ask")),
    });
    let duration = |s: &str| {
        humantime::parse_duration(s)
            .ok()
            .filter(|d| !d.is_zero())
            .ok_or_else(|| format!("{s:?} is not a duration such as 10m"))
    };
    let permission_timeout = r.parsed("LUCID_AGENT_PERMISSION_TIMEOUT", duration);
    let idle_timeout = r.parsed("LUCID_AGENT_IDLE_TIMEOUT", duration);
    let providers = providers(r, llm);
    let external = external?;
    if let Some(default) = &default
        && default != BUILT_IN
        && !external.iter().any(|a| &a.id == default)
    {
        r.problem(
            "LUCID_DEFAULT_AGENT",
            &format!("{default:?} is neither built-in nor an agent in LUCID_AGENTS"),
        );
        return None;
    }
    Some(AgentsSettings {
        external,
        default,
        permissions: permissions?,
        permission_timeout: permission_timeout?,
        idle_timeout: idle_timeout?,
        providers,
    })
}

fn external(r: &mut Reader) -> Option<Vec<ExternalAgent>> {
    let mut agents: Option<Vec<ExternalAgent>> = Some(Vec::new());
    for entry in r.list("LUCID_AGENTS") {
        match parse_entry(&entry) {
            Ok(agent) if agents.iter().flatten().any(|a| a.id == agent.id) => {
                r.problem("LUCID_AGENTS", &format!("{:?} is named twice", agent.id));
                agents = None;
            }
            Ok(agent) => {
                if let Some(agents) = &mut agents {
                    agents.push(agent);
                }
            }
            Err(problem) => {
                r.problem("LUCID_AGENTS", &problem);
                agents = None;
            }
        }
    }
    agents
}

/// `claude` (a known agent) or `id=provider:command line`.
fn parse_entry(entry: &str) -> Result<ExternalAgent, String> {
    let Some((id, rest)) = entry.split_once('=') else {
        let known = crate::sandbox::image::agents::known_agent(entry.trim()).ok_or_else(|| {
            format!(
                "{entry:?} is not a known agent ({}); name others as id=provider:command",
                known_ids().join(", ")
            )
        })?;
        return Ok(ExternalAgent {
            id: known.id.to_owned(),
            command: shlex::split(known.command).unwrap_or_default(),
            provider: ModelProvider::parse(known.provider).unwrap_or(ModelProvider::Anthropic),
        });
    };
    let id = id.trim();
    let valid_id = !id.is_empty()
        && id.len() <= 32
        && id != BUILT_IN
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !valid_id {
        return Err(format!(
            "{id:?} is not an agent id (lowercase letters, digits and -, not built-in)"
        ));
    }
    let (provider, command) = rest
        .split_once(':')
        .ok_or_else(|| format!("{entry:?} is not id=provider:command"))?;
    let provider = ModelProvider::parse(provider.trim()).ok_or_else(|| {
        format!("{provider:?} in {entry:?} is not a provider (anthropic, openai or google)")
    })?;
    let command = shlex::split(command.trim())
        .filter(|argv| !argv.is_empty())
        .ok_or_else(|| format!("{entry:?} has no command line a shell could split"))?;
    Ok(ExternalAgent {
        id: id.to_owned(),
        command,
        provider,
    })
}

fn known_ids() -> Vec<&'static str> {
    crate::sandbox::image::agents::KNOWN_AGENTS
        .iter()
        .map(|a| a.id)
        .collect()
}

/// Each provider's key: its own setting, else the built-in model's key when that
/// model is the same provider's.
fn providers(r: &mut Reader, llm: Option<&LlmSettings>) -> Vec<ProviderKey> {
    let url = |r: &mut Reader, env: &str| {
        r.parsed(env, |s| {
            url::Url::parse(s)
                .ok()
                .filter(|u| matches!(u.scheme(), "http" | "https"))
                .map(|_| s.trim_end_matches('/').to_owned())
                .ok_or_else(|| format!("{s:?} is not an http(s) URL"))
        })
    };
    let mut keys = Vec::new();
    for (provider, key_env, url_env) in [
        (
            ModelProvider::Anthropic,
            "LUCID_ANTHROPIC_API_KEY",
            "LUCID_ANTHROPIC_URL",
        ),
        (
            ModelProvider::OpenAi,
            "LUCID_OPENAI_API_KEY",
            "LUCID_OPENAI_URL",
        ),
        (
            ModelProvider::Google,
            "LUCID_GOOGLE_API_KEY",
            "LUCID_GOOGLE_URL",
        ),
    ] {
        let own_url = r.is_set(url_env);
        let base_url = url(r, url_env);
        let own = r.text(key_env).map(|key| (SecretString::from(key), None));
        let shared = llm.filter(|llm| same(llm.provider, provider)).map(|llm| {
            let origin = llm.base_url.trim_end_matches("/v1").to_owned();
            (llm.api_key.clone(), Some(origin))
        });
        if let (Some((api_key, llm_url)), Some(base_url)) = (own.or(shared), base_url) {
            // The built-in model's address, unless this provider's is set.
            let base_url = match llm_url {
                Some(llm_url) if !own_url => llm_url,
                _ => base_url,
            };
            keys.push(ProviderKey {
                provider,
                base_url,
                api_key,
            });
        }
    }
    keys
}

fn same(llm: Provider, provider: ModelProvider) -> bool {
    matches!(
        (llm, provider),
        (Provider::Anthropic, ModelProvider::Anthropic) | (Provider::OpenAi, ModelProvider::OpenAi)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Settings;
    use secrecy::ExposeSecret;
    use std::collections::BTreeMap;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect()
    }

    #[test]
    fn agents_are_named_with_their_provider_and_command() {
        let settings = Settings::load(
            &env(&[
                (
                    "LUCID_AGENTS",
                    "script=openai:lucid-acp-script --scenario 'fix it', mine=google:my-agent",
                ),
                ("LUCID_DEFAULT_AGENT", "mine"),
                ("LUCID_AGENT_PERMISSIONS", "ask"),
            ]),
            None,
        )
        .unwrap();
        let agents = &settings.agents;
        assert_eq!(agents.external.len(), 2);
        assert_eq!(agents.external[0].id, "script");
        assert_eq!(
            agents.external[0].command,
            ["lucid-acp-script", "--scenario", "fix it"]
        );
        assert_eq!(agents.external[0].provider, ModelProvider::OpenAi);
        assert_eq!(agents.default.as_deref(), Some("mine"));
        assert_eq!(agents.permissions, PermissionPolicy::Ask);
        assert_eq!(agents.idle_timeout, Duration::from_secs(600));
    }

    #[test]
    fn a_wrong_agent_entry_or_default_is_named() {
        for (entries, default, expected) in [
            ("script=openai:", None, "no command line"),
            ("script=mistral:x", None, "not a provider"),
            ("Big=openai:x", None, "not an agent id"),
            ("built-in=openai:x", None, "not an agent id"),
            ("a=openai:x,a=openai:y", None, "named twice"),
            ("no-such-agent", None, "not a known agent"),
            ("a=openai:x", Some("b"), "neither built-in nor an agent"),
        ] {
            let mut pairs = vec![("LUCID_AGENTS", entries)];
            if let Some(default) = default {
                pairs.push(("LUCID_DEFAULT_AGENT", default));
            }
            let problems = Settings::load(&env(&pairs), None).unwrap_err().problems;
            assert!(
                problems.iter().any(|p| p.contains(expected)),
                "{entries}: {problems:?}"
            );
        }
    }

    #[test]
    fn a_provider_key_is_its_own_or_the_built_in_models() {
        let settings = Settings::load(
            &env(&[
                ("LUCID_LLM_API_KEY", "sk-built-in"),
                ("LUCID_LLM_MODEL", "m"),
                ("LUCID_LLM_BASE_URL", "http://127.0.0.1:9/v1"),
                ("LUCID_ANTHROPIC_API_KEY", "sk-ant"),
            ]),
            None,
        )
        .unwrap();
        let agents = &settings.agents;
        let openai = agents.provider(ModelProvider::OpenAi).unwrap();
        assert_eq!(openai.api_key.expose_secret(), "sk-built-in");
        assert_eq!(openai.base_url, "http://127.0.0.1:9");
        let anthropic = agents.provider(ModelProvider::Anthropic).unwrap();
        assert_eq!(anthropic.api_key.expose_secret(), "sk-ant");
        assert_eq!(anthropic.base_url, "https://api.anthropic.com");
        assert!(agents.provider(ModelProvider::Google).is_none());
    }
}
