//! The model and the agent's limits.

use super::reader::Reader;
use crate::agent::engine::{AgentSettings, Prices};
use crate::agent::tools::ToolLimits;
use secrecy::SecretString;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Provider {
    OpenAi,
    Anthropic,
}

#[derive(Debug)]
pub struct LlmSettings {
    pub provider: Provider,
    pub base_url: String,
    pub api_key: SecretString,
    /// Ask for streamed answers.
    pub stream: bool,
}

/// The model's connection (`None` while no key is set) and the agent's settings.
pub(super) fn read(r: &mut Reader) -> (Result<Option<LlmSettings>, ()>, Option<AgentSettings>) {
    let provider = r.parsed("LUCID_LLM_PROVIDER", |s| match s {
        "openai" => Ok(Provider::OpenAi),
        "anthropic" => Ok(Provider::Anthropic),
        other => Err(format!("{other:?} is not a provider (openai or anthropic)")),
    });
    let dollars = |s: &str| match s.parse::<f64>() {
        Ok(d) if d.is_finite() && d >= 0.0 => Ok((d * 1_000_000.0).round() as u64),
        _ => Err(format!("{s:?} is not an amount of US dollars such as 2.5")),
    };
    let price_input = r.parsed("LUCID_LLM_PRICE_INPUT", dollars);
    let price_output = r.parsed("LUCID_LLM_PRICE_OUTPUT", dollars);
    let max_cost = r.parsed("LUCID_AGENT_MAX_COST", dollars);
    let count = |s: &str| {
        s.parse::<u64>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| format!("{s:?} is not a positive whole number"))
    };
    let max_steps = r.parsed("LUCID_AGENT_MAX_STEPS", count);
    let max_tokens = r.parsed("LUCID_AGENT_MAX_TOKENS", count);
    let command_timeout = r.parsed("LUCID_AGENT_COMMAND_TIMEOUT", |s| {
        humantime::parse_duration(s).map_err(|_| format!("{s:?} is not a duration such as 10m"))
    });
    let model = r.text("LUCID_LLM_MODEL");
    let llm = llm(r, provider);
    let agent = (|| {
        Some(AgentSettings {
            model: model.clone().unwrap_or_default(),
            max_steps: u32::try_from(max_steps?).unwrap_or(u32::MAX),
            max_tokens: max_tokens?,
            max_cost_micros: max_cost?,
            prices: Prices {
                input_per_mtok: price_input?,
                output_per_mtok: price_output?,
            },
            tools: ToolLimits {
                command_timeout: command_timeout?,
                output_cap: 32 * 1024,
            },
            max_context_bytes: 400_000,
        })
    })();
    (llm, agent)
}

fn llm(r: &mut Reader, provider: Option<Provider>) -> Result<Option<LlmSettings>, ()> {
    let keys = ["LUCID_LLM_API_KEY", "LUCID_LLM_MODEL", "LUCID_LLM_BASE_URL"];
    let set = r.set_among(&keys);
    if set.is_empty() {
        return Ok(None);
    }
    let why = format!("the model is configured because {} is set", set.join(", "));
    let api_key = r.required("LUCID_LLM_API_KEY", &why);
    let model = r.required("LUCID_LLM_MODEL", &why);
    let base_url = r.parsed("LUCID_LLM_BASE_URL", |s| {
        url::Url::parse(s)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .map(|_| s.trim_end_matches('/').to_owned())
            .ok_or_else(|| format!("{s:?} is not an http(s) URL"))
    });
    let stream = r.parsed("LUCID_LLM_STREAM", |s| match s {
        "true" => Ok(true),
        "false" => Ok(false),
        other => Err(format!("{other:?} is not true or false")),
    });
    let provider = provider.ok_or(())?;
    let base_url = base_url.unwrap_or_else(|| match provider {
        Provider::OpenAi => "https://api.openai.com/v1".to_owned(),
        Provider::Anthropic => "https://api.anthropic.com".to_owned(),
    });
    match (api_key, model, stream) {
        (Some(api_key), Some(_), Some(stream)) => Ok(Some(LlmSettings {
            provider,
            base_url,
            api_key: SecretString::from(api_key),
            stream,
        })),
        _ => Err(()),
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Settings;
    use std::collections::BTreeMap;

    #[test]
    fn the_model_is_off_until_configured_and_then_must_be_complete() {
        let env = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect()
        };
        let off = Settings::load(&env(&[]), None).unwrap();
        assert!(off.llm.is_none());
        assert_eq!(off.agent.max_steps, 60);

        let problems = Settings::load(&env(&[("LUCID_LLM_API_KEY", "sk-1")]), None)
            .unwrap_err()
            .problems;
        assert!(
            problems[0].starts_with("LUCID_LLM_MODEL (llm.model): missing"),
            "{problems:?}"
        );

        let on = Settings::load(
            &env(&[
                ("LUCID_LLM_API_KEY", "sk-1"),
                ("LUCID_LLM_MODEL", "m"),
                ("LUCID_LLM_PRICE_INPUT", "3"),
                ("LUCID_AGENT_MAX_COST", "0.5"),
            ]),
            None,
        )
        .unwrap();
        assert_eq!(on.llm.unwrap().base_url, "https://api.openai.com/v1");
        assert_eq!(on.agent.model, "m");
        assert_eq!(on.agent.prices.input_per_mtok, 3_000_000);
        assert_eq!(on.agent.max_cost_micros, 500_000);
    }
}
