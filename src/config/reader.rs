//! Reads raw settings from the environment and the TOML file, and collects every
//! problem instead of stopping at the first, so one failed start names them all.

use super::catalog::{self, Setting};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// A raw value before it is parsed: the environment only has text, the file also
/// has lists.
#[derive(Clone, Debug)]
enum Raw {
    Text(String),
    List(Vec<String>),
}

pub(super) struct Reader<'a> {
    env: &'a BTreeMap<String, String>,
    file: BTreeMap<String, Raw>,
    file_name: String,
    problems: Vec<String>,
}

impl<'a> Reader<'a> {
    /// Takes the environment and, when given, the TOML file. Unknown keys in either
    /// are problems from the start: a typo must not be silently ignored.
    pub(super) fn new(env: &'a BTreeMap<String, String>, file: Option<(&Path, &str)>) -> Self {
        let mut reader = Reader {
            env,
            file: BTreeMap::new(),
            file_name: file.map_or_else(String::new, |(p, _)| p.display().to_string()),
            problems: Vec::new(),
        };
        reader.check_env_names();
        if let Some((_, text)) = file {
            reader.load_file(text);
        }
        reader
    }

    fn check_env_names(&mut self) {
        for name in self.env.keys() {
            if name.starts_with("LUCID_") && catalog::by_env(name).is_none() {
                self.problems.push(format!(
                    "{name}: unknown setting (see the README for the list)"
                ));
            }
        }
    }

    fn load_file(&mut self, text: &str) {
        let table: toml::Table = match toml::from_str(text) {
            Ok(table) => table,
            Err(e) => {
                let name = self.file_name.clone();
                self.problems.push(format!("{name}: not valid TOML: {e}"));
                return;
            }
        };
        for (key, value) in table {
            match value {
                toml::Value::Table(section) => {
                    for (inner, value) in section {
                        self.insert_file_value(format!("{key}.{inner}"), value);
                    }
                }
                value => self.insert_file_value(key, value),
            }
        }
    }

    fn insert_file_value(&mut self, key: String, value: toml::Value) {
        if catalog::by_file_key(&key).is_none() {
            let name = self.file_name.clone();
            self.problems
                .push(format!("{name}: unknown setting `{key}`"));
            return;
        }
        let raw = match value {
            toml::Value::String(s) => Raw::Text(s),
            toml::Value::Integer(i) => Raw::Text(i.to_string()),
            toml::Value::Boolean(b) => Raw::Text(b.to_string()),
            toml::Value::Array(items) => {
                let texts: Option<Vec<String>> = items
                    .into_iter()
                    .map(|v| v.as_str().map(str::to_owned))
                    .collect();
                match texts {
                    Some(texts) => Raw::List(texts),
                    None => {
                        let name = self.file_name.clone();
                        self.problems
                            .push(format!("{name}: `{key}` must be a list of strings"));
                        return;
                    }
                }
            }
            other => {
                let name = self.file_name.clone();
                self.problems.push(format!(
                    "{name}: `{key}` must be a string, not {}",
                    other.type_str()
                ));
                return;
            }
        };
        self.file.insert(key, raw);
    }

    /// The environment wins over the file; an empty variable counts as unset.
    fn raw(&self, setting: &Setting) -> Option<Raw> {
        match self.env.get(setting.env) {
            Some(value) if !value.is_empty() => Some(Raw::Text(value.clone())),
            _ => self.file.get(setting.file).cloned(),
        }
    }

    pub(super) fn is_set(&self, env: &str) -> bool {
        self.raw(lookup(env)).is_some()
    }

    /// The value as text, or its default. A list where text belongs is a problem.
    pub(super) fn text(&mut self, env: &str) -> Option<String> {
        let setting = lookup(env);
        match self.raw(setting) {
            Some(Raw::Text(text)) => Some(text),
            Some(Raw::List(_)) => {
                self.problem(env, "must be a single value, not a list");
                None
            }
            None => setting.default.map(str::to_owned),
        }
    }

    /// A list: comma-separated in the environment, a TOML array in the file.
    pub(super) fn list(&mut self, env: &str) -> Vec<String> {
        let items = match self.raw(lookup(env)) {
            Some(Raw::Text(text)) => text.split(',').map(str::to_owned).collect(),
            Some(Raw::List(items)) => items,
            None => Vec::new(),
        };
        items
            .into_iter()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect()
    }

    /// The value parsed by `parse`; a parse error becomes a problem naming the setting.
    pub(super) fn parsed<T>(
        &mut self,
        env: &str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        let text = self.text(env)?;
        match parse(&text) {
            Ok(value) => Some(value),
            Err(reason) => {
                self.problem(env, &reason);
                None
            }
        }
    }

    /// A setting a configured part cannot do without.
    pub(super) fn required(&mut self, env: &str, why: &str) -> Option<String> {
        let value = self.text(env);
        if value.is_none() {
            self.problem(env, &format!("missing: {why}"));
        }
        value
    }

    pub(super) fn problem(&mut self, env: &str, message: &str) {
        let setting = lookup(env);
        self.problems
            .push(format!("{} ({}): {message}", setting.env, setting.file));
    }

    /// Which of `envs` are set, for saying why a section counts as configured.
    pub(super) fn set_among(&self, envs: &[&'static str]) -> Vec<&'static str> {
        envs.iter().copied().filter(|e| self.is_set(e)).collect()
    }

    pub(super) fn finish(self) -> Vec<String> {
        // Deduplicate while keeping order: a problem found twice is said once.
        let mut seen = BTreeSet::new();
        self.problems
            .into_iter()
            .filter(|p| seen.insert(p.clone()))
            .collect()
    }
}

fn lookup(env: &str) -> &'static Setting {
    catalog::by_env(env).unwrap_or_else(|| panic!("{env} is not in the settings catalog"))
}
