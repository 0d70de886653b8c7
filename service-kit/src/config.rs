//! Reading configuration from the environment, with errors that name the variable.

use std::{process::ExitCode, str::FromStr};

/// Exit status for a configuration error (`EX_CONFIG` from sysexits.h).
const EXIT_CONFIG: u8 = 78;

/// A configuration problem found at start-up. The message always names the variable, so the
/// one log line a crashing pod leaves behind says what to fix.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("{name} is not set: {hint}")]
    Missing { name: &'static str, hint: &'static str },
    #[error("{name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

impl ConfigError {
    /// Reports the error once on stderr and once as a JSON log line (a no-op before logging is
    /// set up): what a crash-looping pod should leave behind. Returns `EX_CONFIG` to exit with.
    pub fn exit(&self, program: &str) -> ExitCode {
        tracing::error!(error = %self, "invalid configuration");
        eprintln!("{program}: configuration error: {self}");
        ExitCode::from(EXIT_CONFIG)
    }
}

/// A source of variables. Production reads the process environment; tests pass a map, so
/// they never mutate global state.
#[derive(Debug, Clone, Copy)]
pub struct Env<F> {
    lookup: F,
}

impl Env<fn(&str) -> Option<String>> {
    pub fn process() -> Self {
        fn read(name: &str) -> Option<String> {
            std::env::var(name).ok()
        }
        Env { lookup: read }
    }
}

impl<F: Fn(&str) -> Option<String>> Env<F> {
    pub fn from_lookup(lookup: F) -> Self {
        Env { lookup }
    }

    /// The value, if set to something other than blanks.
    pub fn optional(&self, name: &'static str) -> Option<String> {
        (self.lookup)(name).map(|value| value.trim().to_owned()).filter(|value| !value.is_empty())
    }

    pub fn required(&self, name: &'static str, hint: &'static str) -> Result<String, ConfigError> {
        self.optional(name).ok_or(ConfigError::Missing { name, hint })
    }

    /// Parses the variable when set, or returns `default`.
    pub fn parsed_or<T>(&self, name: &'static str, default: T) -> Result<T, ConfigError>
    where
        T: FromStr,
        T::Err: std::fmt::Display,
    {
        match self.optional(name) {
            None => Ok(default),
            Some(raw) => {
                raw.parse().map_err(|error: T::Err| ConfigError::Invalid { name, reason: format!("{raw:?}: {error}") })
            }
        }
    }

    /// Like [`Env::parsed_or`] for flags: accepts true/false, 1/0, yes/no, on/off.
    pub fn flag_or(&self, name: &'static str, default: bool) -> Result<bool, ConfigError> {
        match self.optional(name).map(|raw| raw.to_ascii_lowercase()) {
            None => Ok(default),
            Some(raw) => match raw.as_str() {
                "1" | "true" | "yes" | "on" => Ok(true),
                "0" | "false" | "no" | "off" => Ok(false),
                _ => Err(ConfigError::Invalid {
                    name,
                    reason: format!("{raw:?} is not one of true, false, 1, 0, yes, no, on, off"),
                }),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> Env<impl Fn(&str) -> Option<String>> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Env::from_lookup(move |name| map.get(name).cloned())
    }

    #[test]
    fn blank_counts_as_missing_and_the_error_names_the_variable() {
        let error = env(&[("DATABASE_URL", "  ")]).required("DATABASE_URL", "set it").unwrap_err();
        assert_eq!(error.to_string(), "DATABASE_URL is not set: set it");
    }

    #[test]
    fn unparsable_numbers_are_reported_with_the_value() {
        let error = env(&[("PORT", "eighty")]).parsed_or::<u16>("PORT", 8000).unwrap_err();
        assert!(error.to_string().starts_with("PORT is invalid: \"eighty\""), "{error}");
    }

    #[test]
    fn defaults_apply_only_when_unset() {
        assert_eq!(env(&[]).parsed_or::<u16>("PORT", 8000), Ok(8000));
        assert_eq!(env(&[("PORT", "9000")]).parsed_or::<u16>("PORT", 8000), Ok(9000));
    }

    #[test]
    fn flags_accept_the_usual_spellings() {
        assert_eq!(env(&[("X", "Off")]).flag_or("X", true), Ok(false));
        assert_eq!(env(&[("X", "YES")]).flag_or("X", false), Ok(true));
        assert!(env(&[("X", "maybe")]).flag_or("X", false).is_err());
    }
}
