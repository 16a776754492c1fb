//! `/healthz`: the process answers. `/readyz`: it can do its work, meaning the store
//! and the Docker engine both answer; it also shows what the platforms last answered
//! lucid's tokens (`platforms`: doctor's lines, asked in the background every few
//! minutes, never on a probe, and holding no secret), which does not change its status.

use super::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

pub(super) async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

pub(super) async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let store_check = async {
        match tokio::time::timeout(Duration::from_secs(3), state.store.ping()).await {
            Ok(Ok(())) => Ok("ok".to_owned()),
            Ok(Err(e)) => Err(format!("store: {e}")),
            Err(_) => Err("store: no answer within 3 s".to_owned()),
        }
    };
    let docker_check = async {
        state
            .docker
            .probe()
            .await
            .map(|info| {
                format!(
                    "ok: engine {}, API {}",
                    info.server_version, info.api_version
                )
            })
            .map_err(|e| format!("docker: {e}"))
    };
    let (store, docker) = tokio::join!(store_check, docker_check);
    let failures: Vec<&str> = [&store, &docker]
        .into_iter()
        .filter_map(|r| r.as_ref().err().map(String::as_str))
        .collect();
    let show = |r: &Result<String, String>| match r {
        Ok(s) | Err(s) => s.clone(),
    };
    let checks = json!({ "store": show(&store), "docker": show(&docker) });
    let platforms = state.platforms.to_json();
    if failures.is_empty() {
        (
            StatusCode::OK,
            Json(json!({ "status": "ready", "checks": checks, "platforms": platforms })),
        )
    } else {
        let error = format!("not ready: {}", failures.join("; "));
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "error": error, "checks": checks, "platforms": platforms })),
        )
    }
}
