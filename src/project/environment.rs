//! The variables a project is interpolated with, and where each came from.
//!
//! The shell environment wins over `.env` and `--env-file` files (later files win over earlier ones), as
//! docker compose does. Keeping the origin of each value lets `config --environment` answer the most
//! common question about Compose files: "why is this variable empty?".

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

/// Where a variable's value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The environment rcompose was started in.
    Shell,
    /// The project's `.env` file (or `--env-file`).
    EnvFile(PathBuf),
    /// The `env_file` of an `include` entry.
    IncludeEnvFile(PathBuf),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Shell => write!(f, "shell"),
            Origin::EnvFile(path) => write!(f, "{}", super::diag::display_path(path)),
            Origin::IncludeEnvFile(path) => {
                write!(f, "include env_file {}", super::diag::display_path(path))
            }
        }
    }
}

/// A variable's value and origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variable {
    pub value: String,
    pub origin: Origin,
}

/// The interpolation environment of one (sub-)project.
#[derive(Debug, Clone, Default)]
pub struct Environment {
    variables: BTreeMap<String, Variable>,
}

impl Environment {
    /// An environment holding the shell's variables.
    pub fn from_shell(shell: &BTreeMap<String, String>) -> Environment {
        let variables = shell
            .iter()
            .map(|(name, value)| {
                (
                    name.clone(),
                    Variable {
                        value: value.clone(),
                        origin: Origin::Shell,
                    },
                )
            })
            .collect();
        Environment { variables }
    }

    /// Adds a file's variables; they never override the shell's.
    pub fn add_file_variables(
        &mut self,
        variables: impl IntoIterator<Item = (String, String)>,
        origin: &Origin,
    ) {
        for (name, value) in variables {
            if self
                .variables
                .get(&name)
                .is_some_and(|existing| existing.origin == Origin::Shell)
            {
                continue;
            }
            self.variables.insert(
                name,
                Variable {
                    value,
                    origin: origin.clone(),
                },
            );
        }
    }

    /// Adds variables that are not set yet (an included project's env file under its parent's
    /// environment: the parent's values win).
    pub fn add_missing(
        &mut self,
        variables: impl IntoIterator<Item = (String, String)>,
        origin: &Origin,
    ) {
        for (name, value) in variables {
            self.variables.entry(name).or_insert_with(|| Variable {
                value,
                origin: origin.clone(),
            });
        }
    }

    /// Adds every variable of `other` that this environment lacks.
    pub fn absorb(&mut self, other: &Environment) {
        for (name, variable) in &other.variables {
            self.variables
                .entry(name.clone())
                .or_insert_with(|| variable.clone());
        }
    }

    pub fn get(&self, name: &str) -> Option<&Variable> {
        self.variables.get(name)
    }

    pub fn value(&self, name: &str) -> Option<String> {
        self.variables
            .get(name)
            .map(|variable| variable.value.clone())
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &Variable)> {
        self.variables.iter()
    }

    /// A digest of the names and values, to tell environments apart in caches.
    pub fn fingerprint(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        for (name, variable) in &self.variables {
            name.hash(&mut hasher);
            variable.value.hash(&mut hasher);
        }
        hasher.finish()
    }
}
