//! The model gateways external agents reach their providers through: one per
//! provider and host address the sandboxes reach lucid at, bound when a session first
//! needs it; and each session's spending, told to that session's run.

use crate::agent::gateway::{KeyHeader, ModelGateway, Spent, Upstream};
use crate::config::{ModelProvider, ProviderKey};
use crate::core::SessionId;
use secrecy::SecretString;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

/// Each open session's spending goes to its run.
type Meters = Arc<Mutex<HashMap<SessionId, mpsc::UnboundedSender<Spent>>>>;

pub struct Gateways {
    keys: HashMap<ModelProvider, (String, SecretString)>,
    bound: tokio::sync::Mutex<HashMap<(IpAddr, ModelProvider), Arc<ModelGateway>>>,
    meters: Meters,
    spent: mpsc::UnboundedSender<Spent>,
    /// Taken by the task that tells each session its spending, started with the first
    /// gateway (building the registry needs no runtime).
    told: Mutex<Option<mpsc::UnboundedReceiver<Spent>>>,
}

/// A session's way through a gateway: its address and token, and what it spends.
/// Dropping it closes the token.
pub struct Pass {
    pub gateway: Arc<ModelGateway>,
    pub token: SecretString,
    pub spent: mpsc::UnboundedReceiver<Spent>,
    session: SessionId,
    meters: Meters,
}

impl Drop for Pass {
    fn drop(&mut self) {
        self.gateway.close(self.session);
        lock(&self.meters).remove(&self.session);
    }
}

impl Pass {
    /// Stops the token opening anything, before the session ends (over budget).
    pub fn cut(&self) {
        self.gateway.close(self.session);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl Gateways {
    pub fn new(keys: &[ProviderKey]) -> Arc<Gateways> {
        let (spent, told) = mpsc::unbounded_channel::<Spent>();
        Arc::new(Gateways {
            keys: keys
                .iter()
                .map(|k| (k.provider, (k.base_url.clone(), k.api_key.clone())))
                .collect(),
            bound: tokio::sync::Mutex::default(),
            meters: Arc::default(),
            spent,
            told: Mutex::new(Some(told)),
        })
    }

    /// Tells each session what it spent, from the first gateway on.
    fn start_telling(&self) {
        let Some(mut told) = lock(&self.told).take() else {
            return;
        };
        let meters = self.meters.clone();
        tokio::spawn(async move {
            while let Some(spent) = told.recv().await {
                if let Some(meter) = lock(&meters).get(&spent.session) {
                    let _ = meter.send(spent);
                }
            }
        });
    }

    pub fn has_key(&self, provider: ModelProvider) -> bool {
        self.keys.contains_key(&provider)
    }

    /// A pass for `session` through the gateway for `provider` on `host`.
    pub async fn open(
        &self,
        host: IpAddr,
        provider: ModelProvider,
        session: SessionId,
    ) -> std::io::Result<Pass> {
        let gateway = self.gateway(host, provider).await?;
        let (meter, spent) = mpsc::unbounded_channel();
        lock(&self.meters).insert(session, meter);
        let token = gateway.open(session);
        Ok(Pass {
            gateway,
            token,
            spent,
            session,
            meters: self.meters.clone(),
        })
    }

    async fn gateway(
        &self,
        host: IpAddr,
        provider: ModelProvider,
    ) -> std::io::Result<Arc<ModelGateway>> {
        self.start_telling();
        let mut bound = self.bound.lock().await;
        if let Some(gateway) = bound.get(&(host, provider)) {
            return Ok(gateway.clone());
        }
        let (base_url, api_key) = self.keys.get(&provider).ok_or_else(|| {
            std::io::Error::other(format!("no key is set for {}", provider.as_str()))
        })?;
        let upstream = Upstream {
            base_url: base_url.clone(),
            api_key: api_key.clone(),
            key_header: key_header(provider),
        };
        let gateway = Arc::new(
            ModelGateway::bind(SocketAddr::new(host, 0), upstream, self.spent.clone()).await?,
        );
        tracing::info!(provider = provider.as_str(), addr = %gateway.addr(), "the model gateway listens");
        bound.insert((host, provider), gateway.clone());
        Ok(gateway)
    }
}

fn key_header(provider: ModelProvider) -> KeyHeader {
    match provider {
        ModelProvider::Anthropic => KeyHeader::XApiKey,
        ModelProvider::OpenAi => KeyHeader::Bearer,
        ModelProvider::Google => KeyHeader::XGoogApiKey,
    }
}

/// The variables that point an agent at the gateway: the provider's base URL and
/// key variables, as the agents of that provider read them, and the gateway kept out
/// of any proxy.
/// What an agent that offers gateway authentication (a method whose `_meta` has a
/// `gateway`, as Gemini CLI's does) is given in `authenticate`'s `_meta.gateway`:
/// the gateway's base URL for its provider, and the header carrying the session's
/// token the way that provider's clients send a key.
pub fn gateway_auth(
    provider: ModelProvider,
    gateway: SocketAddr,
    token: &str,
) -> serde_json::Value {
    let origin = format!("http://{gateway}");
    let (base_url, header, value) = match provider {
        ModelProvider::Anthropic => (origin, "x-api-key", token.to_owned()),
        ModelProvider::OpenAi => (
            format!("{origin}/v1"),
            "authorization",
            format!("Bearer {token}"),
        ),
        ModelProvider::Google => (origin, "x-goog-api-key", token.to_owned()),
    };
    serde_json::json!({"baseUrl": base_url, "headers": {header: value}})
}

pub fn agent_env(
    provider: ModelProvider,
    gateway: SocketAddr,
    token: &str,
) -> Vec<(String, String)> {
    let origin = format!("http://{gateway}");
    let mut env: Vec<(&str, String)> = match provider {
        ModelProvider::Anthropic => vec![
            ("ANTHROPIC_BASE_URL", origin),
            ("ANTHROPIC_API_KEY", token.to_owned()),
        ],
        // Codex reads its key from CODEX_API_KEY.
        ModelProvider::OpenAi => vec![
            ("OPENAI_BASE_URL", format!("{origin}/v1")),
            ("OPENAI_API_KEY", token.to_owned()),
            ("CODEX_API_KEY", token.to_owned()),
        ],
        ModelProvider::Google => vec![
            ("GOOGLE_GEMINI_BASE_URL", origin),
            ("GEMINI_API_KEY", token.to_owned()),
        ],
    };
    let direct = format!("{},localhost,127.0.0.1", gateway.ip());
    env.push(("NO_PROXY", direct.clone()));
    env.push(("no_proxy", direct));
    env.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}
