//! The built-in agent. So far: the language-model clients it drives (`llm`).
//! The tool loop, its tools and its events come next (issue 4).

pub mod llm;
