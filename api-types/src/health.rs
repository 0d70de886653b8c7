use serde::{Deserialize, Serialize};

/// Body of `GET /healthz`: the process is up and serving.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Liveness {
    pub status: CheckStatus,
    pub version: String,
}

/// Body of `GET /readyz`: whether this replica should receive traffic, and if not, why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Readiness {
    pub status: CheckStatus,
    pub checks: Vec<ReadinessCheck>,
}

impl Readiness {
    /// Ready only when every check passed.
    pub fn from_checks(checks: Vec<ReadinessCheck>) -> Self {
        let status = if checks.iter().all(|check| check.status == CheckStatus::Ok) {
            CheckStatus::Ok
        } else {
            CheckStatus::Failing
        };
        Self { status, checks }
    }

    pub fn is_ready(&self) -> bool {
        self.status == CheckStatus::Ok
    }
}

/// One named dependency of readiness (`database`, `migrations`, `shutdown`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReadinessCheck {
    pub name: String,
    pub status: CheckStatus,
    /// What was found, in words a person on call can act on.
    pub detail: String,
}

impl ReadinessCheck {
    pub fn ok(name: &str, detail: impl Into<String>) -> Self {
        Self { name: name.to_owned(), status: CheckStatus::Ok, detail: detail.into() }
    }

    pub fn failing(name: &str, detail: impl Into<String>) -> Self {
        Self { name: name.to_owned(), status: CheckStatus::Failing, detail: detail.into() }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    Ok,
    Failing,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_failing_check_makes_the_whole_replica_unready() {
        let readiness = Readiness::from_checks(vec![
            ReadinessCheck::ok("database", "answered"),
            ReadinessCheck::failing("migrations", "pending: 2"),
        ]);
        assert!(!readiness.is_ready());
        let json = serde_json::to_value(&readiness).unwrap();
        assert_eq!(json["status"], "failing");
        assert_eq!(json["checks"][1]["name"], "migrations");
    }

    #[test]
    fn no_failing_check_means_ready() {
        let readiness = Readiness::from_checks(vec![ReadinessCheck::ok("database", "answered")]);
        assert!(readiness.is_ready());
    }
}
