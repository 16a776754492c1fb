//! The configured agents through the API: lucid's own and the external ones, which
//! is the default, whether each can run, and what each said of itself when it last
//! started (its name and version, at `initialize`).

use super::actions::actions;
use super::{ApiError, AppState};
use crate::agent::AgentKind;
use crate::agent::acp::SeenAgent;
use axum::Json;
use axum::extract::State;
use serde::Serialize;
use serde_json::{Value, json};

/// One agent as the API shows it.
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct AgentView {
    /// What a request names it by (`with gemini: …`).
    id: String,
    /// Whether a request that names none runs with it.
    default: bool,
    #[serde(flatten)]
    #[schema(value_type = Object)]
    kind: AgentKind,
    /// What it said of itself when it last started (external agents), if it has.
    #[schema(value_type = Object)]
    seen: Option<SeenAgent>,
}

/// `GET /api/v1/agents`: `{"agents": […]}`, the default first.
#[utoipa::path(get, path = "/agents",
    responses((status = 200, description = "The configured agents"), (status = 503, description = "This lucid runs no sessions")))]
pub(super) async fn list_agents(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let registry = &actions(&state)?.registry;
    let (_, default) = registry.agent_ids();
    let agents: Vec<AgentView> = registry
        .agents()
        .into_iter()
        .map(|(id, agent)| AgentView {
            id: id.to_owned(),
            default: default.as_deref() == Some(id),
            kind: agent.kind(),
            seen: registry.seen_agents().get(id),
        })
        .collect();
    Ok(Json(json!({ "agents": agents })))
}
