pub mod client;
pub mod forge;
pub mod git;
pub mod progress;
pub mod thread;
