//! The `model` label. The built-in agent's model is a setting; an external agent's is
//! whatever its provider's answer names, read as it passes through the gateway, so
//! that name is taken only while it looks like a model's and while few have been
//! seen: a provider (or an agent) naming a new model per answer cannot grow the
//! label set without end.

use std::collections::BTreeSet;
use std::sync::{LazyLock, Mutex};

/// Distinct model names one process labels; later ones are `other`.
pub const MOST_MODELS: usize = 32;
/// The longest model name kept (providers' names run to about 40 characters).
const LONGEST: usize = 100;

pub static MODELS: LazyLock<Models> = LazyLock::new(|| Models::new(MOST_MODELS));

pub struct Models {
    seen: Mutex<BTreeSet<String>>,
    most: usize,
}

impl Models {
    pub fn new(most: usize) -> Models {
        Models {
            seen: Mutex::new(BTreeSet::new()),
            most,
        }
    }

    /// The label for `model`: its name, `unknown` when there is none, `other` when
    /// it does not look like a model's name or too many were seen already.
    pub fn label(&self, model: Option<&str>) -> String {
        let Some(name) = model.map(str::trim).filter(|n| !n.is_empty()) else {
            return "unknown".to_owned();
        };
        let plausible = name.len() <= LONGEST
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.:/@+".contains(c));
        if !plausible {
            return "other".to_owned();
        }
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.contains(name) || seen.len() < self.most {
            seen.insert(name.to_owned());
            name.to_owned()
        } else {
            "other".to_owned()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_names_are_kept_until_too_many_were_seen() {
        let models = Models::new(2);
        assert_eq!(models.label(Some("claude-sonnet-4-5")), "claude-sonnet-4-5");
        assert_eq!(models.label(Some("gpt-4.1")), "gpt-4.1");
        assert_eq!(models.label(Some("gemini-2.5-pro")), "other");
        // One seen before keeps its name.
        assert_eq!(models.label(Some("gpt-4.1")), "gpt-4.1");
    }

    #[test]
    fn a_name_that_is_no_model_name_is_other_and_none_is_unknown() {
        let models = Models::new(10);
        assert_eq!(models.label(None), "unknown");
        assert_eq!(models.label(Some("  ")), "unknown");
        assert_eq!(models.label(Some("a model\" {x=1}")), "other");
        assert_eq!(models.label(Some(&"m".repeat(101))), "other");
        assert_eq!(
            models.label(Some("models/gemini-2.5-flash")),
            "models/gemini-2.5-flash"
        );
    }
}
