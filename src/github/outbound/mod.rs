pub mod client;
pub mod markup;
pub mod progress;
mod stack;
