//! Sandboxes: where an agent's commands run. Today this holds the Docker engine
//! connection that readiness checks and `lucid doctor` use.

pub mod engine;
pub mod image;

pub use engine::{DockerEngine, EngineError, EngineInfo};
