//! The parts this lucid is configured with: chat platforms, the forge, the agent.
//! `serve` builds one registry from the settings; the worker and the routes find
//! parts here by a session's platform, and know no platform by name. Adding a
//! platform is its folder plus one line in [`build`].

use crate::agent::AgentRunner;
use crate::chat::{ChatPlatform, Holds, Intake};
use crate::config::Settings;
use crate::core::Platform;
use crate::forge::Forge;
use crate::store::Store;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

/// What building a part may need besides its settings.
pub struct Context {
    pub store: Store,
    /// Where sandboxes' workspaces are (forges keep git directories beside them).
    pub workspaces: PathBuf,
    /// Who lucid is on GitHub, as `serve` found it at start (the settings, or the App
    /// `lucid setup github` kept); None: from the settings alone.
    pub github: Option<Arc<crate::github::GithubLink>>,
}

#[derive(Default)]
pub struct Registry {
    platforms: BTreeMap<Platform, Arc<dyn ChatPlatform>>,
    forges: BTreeMap<String, Arc<dyn Forge>>,
    /// The agents sessions run with, by id (`built-in` for lucid's own).
    agents: BTreeMap<String, Arc<dyn AgentRunner>>,
    /// The one a request gets unless it names another.
    default_agent: Option<String>,
    /// What each external agent said of itself when it last started.
    seen_agents: Arc<crate::agent::acp::Seen>,
    holds: Arc<Holds>,
    previews: Arc<crate::web::Previews>,
    /// Sessions per person and per place.
    limits: crate::core::Limits,
    /// How people link their forge account from a chat platform, where set up.
    linker: Option<Arc<dyn crate::forge::linking::Linker>>,
    /// People's linked forge accounts (built last, from the store and the linker).
    accounts: Option<Arc<crate::chat::accounts::Accounts>>,
}

/// Builds every configured part from the settings.
pub fn build(settings: &Settings, context: &Context) -> anyhow::Result<Registry> {
    let mut registry = Registry::default();
    registry.set_limits(settings.limits);
    crate::github::register(&mut registry, settings, context)?;
    crate::slack::register(&mut registry, settings, context)?;
    crate::discord::register(&mut registry, settings, context)?;
    crate::notion::register(&mut registry, settings, context)?;
    crate::web::register(&mut registry, settings, context)?;
    crate::agent::register(&mut registry, settings, context)?;
    crate::github::linking::register(&mut registry, settings);
    registry.accounts = Some(Arc::new(crate::chat::accounts::Accounts::new(
        context.store.clone(),
        settings.secret_key.clone(),
        registry.linker.clone(),
        settings.linking.required,
    )));
    Ok(registry)
}

impl Registry {
    /// The limits on sessions per person and per place requests are held to.
    pub fn set_limits(&mut self, limits: crate::core::Limits) {
        self.limits = limits;
    }

    /// How people link their forge account ("@lucid login").
    pub fn set_linker(&mut self, linker: Arc<dyn crate::forge::linking::Linker>) {
        self.linker = Some(linker);
    }

    /// People's linked forge accounts, when the registry was built from settings.
    pub fn accounts(&self) -> Option<&Arc<crate::chat::accounts::Accounts>> {
        self.accounts.as_ref()
    }

    pub fn add_platform(&mut self, platform: Arc<dyn ChatPlatform>) {
        self.platforms.insert(platform.platform(), platform);
    }

    pub fn add_forge(&mut self, forge: Arc<dyn Forge>) {
        self.forges.insert(forge.name().to_owned(), forge);
    }

    /// Adds an agent under `id`; the first added is the default until one is set.
    pub fn add_agent(&mut self, id: &str, agent: Arc<dyn AgentRunner>) {
        self.agents.insert(id.to_owned(), agent);
        self.default_agent.get_or_insert_with(|| id.to_owned());
    }

    /// lucid's own agent, as the default.
    pub fn set_agent(&mut self, agent: Arc<dyn AgentRunner>) {
        self.add_agent(crate::config::BUILT_IN, agent);
        self.set_default_agent(crate::config::BUILT_IN);
    }

    pub fn set_default_agent(&mut self, id: &str) {
        self.default_agent = Some(id.to_owned());
    }

    pub fn platform(&self, platform: &Platform) -> Option<&Arc<dyn ChatPlatform>> {
        self.platforms.get(platform)
    }

    /// The platforms served, by name.
    pub fn platform_names(&self) -> Vec<Platform> {
        self.platforms.keys().cloned().collect()
    }

    /// The forge a repository lives on, when it is served here.
    pub fn forge(&self, name: &str) -> Option<&Arc<dyn Forge>> {
        self.forges.get(name)
    }

    /// The forges served, by name.
    pub fn forge_names(&self) -> Vec<String> {
        self.forges.keys().cloned().collect()
    }

    /// The default agent.
    pub fn agent(&self) -> Option<&Arc<dyn AgentRunner>> {
        self.agent_for(None)
    }

    /// The agent `id` names, or the default for None.
    pub fn agent_for(&self, id: Option<&str>) -> Option<&Arc<dyn AgentRunner>> {
        self.agents.get(id.or(self.default_agent.as_deref())?)
    }

    /// The agents' ids, and the default's.
    pub fn agent_ids(&self) -> (Vec<String>, Option<String>) {
        (
            self.agents.keys().cloned().collect(),
            self.default_agent.clone(),
        )
    }

    /// Every agent with its id, the default first.
    pub fn agents(&self) -> Vec<(&str, &Arc<dyn AgentRunner>)> {
        let mut agents: Vec<_> = self.agents.iter().map(|(id, a)| (id.as_str(), a)).collect();
        agents.sort_by_key(|(id, _)| Some(*id) != self.default_agent.as_deref());
        agents
    }

    pub fn seen_agents(&self) -> &Arc<crate::agent::acp::Seen> {
        &self.seen_agents
    }

    pub fn holds(&self) -> &Arc<Holds> {
        &self.holds
    }

    /// The live previews the worker opens and the HTTP server serves.
    pub fn previews(&self) -> &Arc<crate::web::Previews> {
        &self.previews
    }

    /// The intake every platform's routes share.
    pub fn intake(&self, store: &Store, links: &crate::web::Links) -> Intake {
        Intake {
            store: store.clone(),
            holds: self.holds.clone(),
            forges: self.forges.values().cloned().collect(),
            links: links.clone(),
            agents: {
                let (ids, default) = self.agent_ids();
                crate::chat::AgentChoice::new(ids, default)
            },
            limits: self.limits,
            accounts: self.accounts.clone(),
        }
    }

    /// Starts every platform's listening that is not over HTTP, until `stop`.
    pub fn listen(&self, intake: &Intake, stop: &tokio_util::sync::CancellationToken) {
        for platform in self.platforms.values() {
            platform.clone().listen(intake.clone(), stop.clone());
        }
    }

    /// Every platform's routes, on one router.
    pub fn routes(&self, intake: &Intake) -> axum::Router {
        self.platforms
            .values()
            .fold(axum::Router::new(), |router, platform| {
                tracing::info!(platform = %platform.platform(), "{} webhooks on", platform.title());
                router.merge(platform.clone().routes(intake.clone()))
            })
    }
}
