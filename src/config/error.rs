//! The configuration error: which key, what is wrong with it, and how to fix it, shown as
//! the one line that stops launch.

use std::fmt;

/// A configuration mistake. Its `Display` is one line, `<key> <problem>: <fix>`, e.g.
/// `oidc.providers.google.issuer is missing: set issuer = "https://…" for discovery, …`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConfigError {
    /// The full key, from `oidc` down: `oidc.providers.google.issuer`.
    pub(crate) key: String,
    /// What is wrong, said of the key: `is missing`, `= "http://x" must use https`.
    pub(crate) problem: String,
    /// What to do about it.
    pub(crate) fix: String,
}

impl ConfigError {
    pub(crate) fn new(
        key: impl Into<String>,
        problem: impl Into<String>,
        fix: impl Into<String>,
    ) -> ConfigError {
        ConfigError {
            key: key.into(),
            problem: problem.into(),
            fix: fix.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.key, self.problem)?;
        if !self.fix.is_empty() {
            write!(f, ": {}", self.fix)?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// `return Err(ConfigError::new(key, problem, fix))`.
macro_rules! bail {
    ($key:expr, $problem:expr, $fix:expr $(,)?) => {
        return Err($crate::config::ConfigError::new($key, $problem, $fix))
    };
}
pub(crate) use bail;

/// What figment could not read, as a configuration error on the key it names.
pub(super) fn from_figment_error(error: rocket::figment::Error) -> ConfigError {
    use rocket::figment::error::Kind;
    let mut errors = error.into_iter().map(|e| {
        // `extract_inner` appends the focused key ("oidc") after the path.
        let mut path = e.path.clone();
        if path.last().map(String::as_str) == Some("oidc") {
            path.pop();
        }
        let key = std::iter::once("oidc".to_string())
            .chain(path)
            .collect::<Vec<_>>()
            .join(".");
        let source = e
            .metadata
            .as_ref()
            .map(|m| format!(" (in {})", m.name))
            .unwrap_or_default();
        match &e.kind {
            Kind::UnknownField(_, expected) => ConfigError::new(
                key,
                format!("is not a known key{source}"),
                format!(
                    "check the spelling; the keys here are {}",
                    expected.join(", ")
                ),
            ),
            kind => ConfigError::new(
                key,
                format!("cannot be read{source}: {kind}"),
                "give it a value of that type",
            ),
        }
    });
    let Some(mut first) = errors.next() else {
        return ConfigError::new("oidc", "cannot be read", "check the [default.oidc] table");
    };
    for other in errors {
        first.fix = format!("{}; and {other}", first.fix);
    }
    first
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shows_key_problem_and_fix_on_one_line() {
        let error = ConfigError::new(
            "oidc.providers.google.issuer",
            "is missing",
            "set issuer = \"https://accounts.google.com\"",
        );
        assert_eq!(
            error.to_string(),
            "oidc.providers.google.issuer is missing: set issuer = \"https://accounts.google.com\""
        );
        assert_eq!(
            ConfigError::new("oidc", "is wrong", "").to_string(),
            "oidc is wrong"
        );
    }
}
