//! Asking the model, as a real agent does, through whatever base URL and key its
//! environment gives it: in lucid, the gateway's address and a session token.

use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Duration;

/// Where `authenticate` said the model is (an OpenAI-style gateway), and the headers
/// it takes. Once set, the environment is not read.
static GATEWAY: OnceLock<(String, HashMap<String, String>)> = OnceLock::new();

pub fn use_gateway(base_url: &str, headers: HashMap<String, String>) {
    let _ = GATEWAY.set((base_url.to_owned(), headers));
}

/// The model's answer's text, or why there is none (said in the turn's error).
pub async fn ask(prompt: &str) -> Result<String, String> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .map_err(|e| format!("no HTTP client: {e}"))?;
    let messages = json!([{"role": "user", "content": prompt}]);
    let (url, request, style) = if let Some((base, headers)) = GATEWAY.get() {
        let url = format!("{}/chat/completions", base.trim_end_matches('/'));
        let mut request = client.post(&url);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let request = request.json(&json!({"model": "gpt-test", "messages": messages}));
        (url, request, Style::OpenAi)
    } else if super::gateway_auth_only() {
        return Err("no model to ask: authenticate gave no gateway".to_owned());
    } else if let Some(base) = var("ANTHROPIC_BASE_URL") {
        let url = format!("{}/v1/messages", base.trim_end_matches('/'));
        let request = client
            .post(&url)
            .header("x-api-key", var("ANTHROPIC_API_KEY").unwrap_or_default())
            .header("anthropic-version", "2023-06-01")
            .json(&json!({"model": "claude-test", "max_tokens": 256, "messages": messages}));
        (url, request, Style::Anthropic)
    } else if let Some(base) = var("OPENAI_BASE_URL") {
        let url = format!("{}/chat/completions", base.trim_end_matches('/'));
        let request = client
            .post(&url)
            .bearer_auth(var("OPENAI_API_KEY").unwrap_or_default())
            .json(&json!({"model": "gpt-test", "messages": messages}));
        (url, request, Style::OpenAi)
    } else {
        return Err(
            "no model to ask: neither ANTHROPIC_BASE_URL nor OPENAI_BASE_URL is set".to_owned(),
        );
    };
    let response = match request.send().await {
        Ok(response) => response,
        Err(e) => {
            let mut why = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(cause) = source {
                why.push_str(&format!(": {cause}"));
                source = cause.source();
            }
            eprintln!("lucid-acp-script: model: POST {url} failed: {why}");
            return Err(format!("the model could not be reached at {url}: {why}"));
        }
    };
    let status = response.status();
    eprintln!(
        "lucid-acp-script: model: POST {url} -> HTTP {}",
        status.as_u16()
    );
    let body = response
        .text()
        .await
        .map_err(|e| format!("the model's answer broke off: {e}"))?;
    if !status.is_success() {
        let head: String = body.chars().take(300).collect();
        eprintln!("lucid-acp-script: model: {head}");
        return Err(format!("the model answered {}: {head}", status.as_u16()));
    }
    let answer: Value =
        serde_json::from_str(&body).map_err(|e| format!("the model's answer is not JSON ({e})"))?;
    let text = match style {
        Style::Anthropic => answer["content"]
            .as_array()
            .map(|blocks| {
                blocks
                    .iter()
                    .filter(|b| b["type"] == "text")
                    .filter_map(|b| b["text"].as_str())
                    .collect::<String>()
            })
            .unwrap_or_default(),
        Style::OpenAi => answer["choices"][0]["message"]["content"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    };
    if text.is_empty() {
        return Err(format!("the model's answer holds no text: {answer}"));
    }
    Ok(text)
}

enum Style {
    Anthropic,
    OpenAi,
}
