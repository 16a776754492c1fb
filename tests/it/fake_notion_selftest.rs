//! The fake Notion against plain reqwest: each behaviour and each refusal.
