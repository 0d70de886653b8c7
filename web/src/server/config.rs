use service_kit::config::{ConfigError, Env};
use std::{net::IpAddr, path::PathBuf, time::Duration};
use url::Url;

pub const DEFAULT_PORT: u16 = 3000;

#[derive(Debug, Clone)]
pub struct Config {
    pub host: IpAddr,
    pub port: u16,
    /// Where `/api/*` goes, e.g. `http://backend:8000`.
    pub backend_url: Url,
    /// The built app: index.html, the wasm-bindgen output, styles.
    pub assets_dir: PathBuf,
    /// Longest wait for the head of the backend's answer (a streamed body may then take longer);
    /// chat turns with a slow model take a while.
    pub proxy_timeout: Duration,
}

impl Config {
    pub fn from_env<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, ConfigError> {
        let backend_url = parse_backend_url(
            &env.required("BACKEND_URL", "set it to the backend's base URL, such as http://backend:8000")?,
        )?;
        let assets_dir = PathBuf::from(env.optional("ASSETS_DIR").unwrap_or_else(|| "/srv/web".to_owned()));
        // Opened, not just looked up: a file the server's user cannot read would otherwise only
        // show up as a 500 on every page load.
        let index = assets_dir.join("index.html");
        if let Err(error) = std::fs::File::open(&index) {
            return Err(ConfigError::Invalid {
                name: "ASSETS_DIR",
                reason: format!("{} cannot be read ({error}): point it at the built app", index.display()),
            });
        }
        let proxy_timeout_secs = env.parsed_or("PROXY_TIMEOUT_SECS", 120_u64)?;
        if proxy_timeout_secs == 0 {
            return Err(ConfigError::Invalid { name: "PROXY_TIMEOUT_SECS", reason: "must be at least 1".to_owned() });
        }
        Ok(Self {
            host: env.parsed_or("HOST", IpAddr::from([0, 0, 0, 0]))?,
            port: env.parsed_or("PORT", DEFAULT_PORT)?,
            backend_url,
            assets_dir,
            proxy_timeout: Duration::from_secs(proxy_timeout_secs),
        })
    }
}

fn parse_backend_url(raw: &str) -> Result<Url, ConfigError> {
    let invalid = |reason: String| ConfigError::Invalid { name: "BACKEND_URL", reason };
    let url = Url::parse(raw).map_err(|error| invalid(format!("{raw:?}: {error}")))?;
    if url.scheme() != "http" {
        return Err(invalid(format!(
            "{raw:?}: only http:// is supported (the backend is reached inside the cluster or compose network)"
        )));
    }
    if url.host_str().is_none() {
        return Err(invalid(format!("{raw:?} has no host")));
    }
    if url.query().is_some() || url.path() != "/" {
        return Err(invalid(format!("{raw:?}: give the base URL only, without a path or query")));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_env(&Env::from_lookup(move |name| map.get(name).cloned()))
    }

    fn assets() -> String {
        let dir = std::env::temp_dir().join(format!("web-config-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("index.html"), "<!doctype html>").unwrap();
        dir.display().to_string()
    }

    #[test]
    fn backend_url_is_required_and_named() {
        let error = config(&[("ASSETS_DIR", &assets())]).unwrap_err();
        assert!(error.to_string().starts_with("BACKEND_URL is not set"), "{error}");
    }

    #[test]
    fn backend_url_must_be_a_plain_http_base() {
        for bad in ["backend:8000", "https://backend", "http://backend/api", "ftp://x"] {
            let error = config(&[("BACKEND_URL", bad), ("ASSETS_DIR", &assets())]).unwrap_err();
            assert!(error.to_string().starts_with("BACKEND_URL is invalid"), "{bad}: {error}");
        }
    }

    #[test]
    fn assets_without_index_are_refused() {
        let error = config(&[("BACKEND_URL", "http://backend:8000"), ("ASSETS_DIR", "/nonexistent")]).unwrap_err();
        assert!(error.to_string().starts_with("ASSETS_DIR is invalid"), "{error}");
    }

    #[test]
    fn a_good_configuration_parses() {
        let config = config(&[("BACKEND_URL", "http://backend:8000"), ("ASSETS_DIR", &assets())]).unwrap();
        assert_eq!(config.port, DEFAULT_PORT);
        assert_eq!(config.backend_url.as_str(), "http://backend:8000/");
    }
}
