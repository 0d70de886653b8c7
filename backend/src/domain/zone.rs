use super::text::{Lines, required};

/// An IANA time zone name as a browser reports it (`Europe/Paris`, `America/Argentina/Salta`,
/// `Etc/GMT+5`, `UTC`). This checks its shape only, so that nothing hostile reaches SQL;
/// whether the zone exists is PostgreSQL's answer (`store::zones`), which holds the tz database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneName(String);

impl ZoneName {
    /// The longest IANA name has 32 characters.
    pub const MAX_CHARS: usize = 64;

    pub fn parse(raw: &str) -> Result<Self, String> {
        let name = required(raw, Lines::One, Self::MAX_CHARS)?;
        let shaped = name.starts_with(|c: char| c.is_ascii_alphabetic())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '-' | '+'));
        if !shaped {
            return Err(format!("{name:?} is not an IANA time zone name such as Europe/Paris"));
        }
        Ok(Self(name))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_iana_shaped() {
        for name in ["UTC", "Europe/Paris", "America/Argentina/Salta", "Etc/GMT+5", "America/Port-au-Prince"] {
            assert_eq!(ZoneName::parse(name).unwrap().as_str(), name);
        }
        assert_eq!(ZoneName::parse(" Asia/Kolkata ").unwrap().as_str(), "Asia/Kolkata");
        for bad in ["", "a\0b", "Europe/\nParis", "'; drop table tasks; --", "+05:00", "../etc/passwd", "Eu rope"] {
            assert!(ZoneName::parse(bad).is_err(), "{bad:?}");
        }
        assert!(ZoneName::parse(&"A".repeat(10_000)).unwrap_err().contains("at most 64"));
    }
}
