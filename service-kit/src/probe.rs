//! The `healthcheck` subcommand of both binaries. Scratch images have no shell and no curl,
//! so Docker and compose healthchecks run the server binary itself in this mode, and so do the
//! chart's `helm test` pods, with a URL: `web healthcheck http://todo-chatbot-frontend:3000/api/readyz`.

use crate::config::Env;
use std::{process::ExitCode, time::Duration};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("could not connect to {0}: {1}")]
    Connect(String, std::io::Error),
    #[error("i/o with {0} failed: {1}")]
    Io(String, std::io::Error),
    #[error("no answer from {0} within {1:?}")]
    Timeout(String, Duration),
    #[error("{0} answered something that is not HTTP: {1:?}")]
    NotHttp(String, String),
    #[error("{address}{path} answered {status}")]
    Unhealthy { address: String, path: String, status: u16 },
}

/// Why a `healthcheck` URL argument was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TargetError {
    #[error("{0:?}: only http://host[:port][/path] URLs (the probe speaks plain HTTP/1.1)")]
    Scheme(String),
    #[error("{0:?}: no host")]
    Host(String),
    #[error("{0:?}: the port is not a number from 1 to 65535")]
    Port(String),
}

/// Where a probe goes: host (a name or an address), port and path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub host: String,
    pub port: u16,
    pub path: String,
}

impl Target {
    /// `/healthz`-style path on this machine: what Docker and compose healthchecks ask.
    pub fn local(port: u16, path: &str) -> Self {
        Self { host: "127.0.0.1".to_owned(), port, path: path.to_owned() }
    }

    /// `http://host[:port][/path]`; the port defaults to 80 and the path to `/`. IPv6
    /// literals, user info and https are refused: no in-cluster check needs them.
    pub fn parse(url: &str) -> Result<Self, TargetError> {
        let rest = url.strip_prefix("http://").ok_or_else(|| TargetError::Scheme(url.to_owned()))?;
        let (authority, path) = match rest.find(['/', '?']) {
            Some(at) if rest[at..].starts_with('/') => (&rest[..at], rest[at..].to_owned()),
            Some(at) => (&rest[..at], format!("/{}", &rest[at..])),
            None => (rest, "/".to_owned()),
        };
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) => {
                (host, port.parse().ok().filter(|port| *port > 0).ok_or_else(|| TargetError::Port(url.to_owned()))?)
            }
            None => (authority, 80),
        };
        let valid = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_');
        if host.is_empty() || !host.chars().all(valid) {
            return Err(TargetError::Host(url.to_owned()));
        }
        Ok(Self { host: host.to_owned(), port, path })
    }

    fn address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// GETs `path` on 127.0.0.1:`port` and succeeds on a 2xx answer.
pub async fn check(port: u16, path: &str, timeout: Duration) -> Result<u16, ProbeError> {
    check_target(&Target::local(port, path), timeout).await
}

/// GETs the target's path and succeeds on a 2xx answer; name resolution counts in the timeout.
pub async fn check_target(target: &Target, timeout: Duration) -> Result<u16, ProbeError> {
    let address = target.address();
    tokio::time::timeout(timeout, get_status(&address, &target.path))
        .await
        .map_err(|_| ProbeError::Timeout(address.clone(), timeout))?
        .and_then(|status| {
            if (200..300).contains(&status) {
                Ok(status)
            } else {
                Err(ProbeError::Unhealthy { address, path: target.path.clone(), status })
            }
        })
}

async fn get_status(address: &str, path: &str) -> Result<u16, ProbeError> {
    let mut stream =
        TcpStream::connect(address).await.map_err(|error| ProbeError::Connect(address.to_owned(), error))?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.map_err(|error| ProbeError::Io(address.to_owned(), error))?;
    let mut head = Vec::with_capacity(64);
    let mut buffer = [0_u8; 64];
    // The status line is all we need.
    while !head.contains(&b'\n') && head.len() < 1024 {
        let read = stream.read(&mut buffer).await.map_err(|error| ProbeError::Io(address.to_owned(), error))?;
        if read == 0 {
            break;
        }
        head.extend_from_slice(&buffer[..read]);
    }
    let line = String::from_utf8_lossy(&head);
    let status_line = line.lines().next().unwrap_or_default();
    let mut parts = status_line.split_whitespace();
    match (parts.next(), parts.next().and_then(|code| code.parse().ok())) {
        (Some(version), Some(status)) if version.starts_with("HTTP/") => Ok(status),
        _ => Err(ProbeError::NotHttp(address.to_owned(), status_line.to_owned())),
    }
}

/// The `healthcheck [URL]` subcommand (its argument follows the command on the command line):
/// probes the URL, or without one `/healthz` on 127.0.0.1:`$PORT` (else `default_port`), and
/// turns the result into an exit code, printing one line.
pub async fn healthcheck(program: &str, default_port: u16) -> ExitCode {
    let arguments: Vec<String> = std::env::args().skip(2).collect();
    let target = match arguments.as_slice() {
        [] => match Env::process().parsed_or("PORT", default_port) {
            Ok(port) => Target::local(port, "/healthz"),
            Err(error) => return error.exit(program),
        },
        [url] => match Target::parse(url) {
            Ok(target) => target,
            Err(error) => {
                eprintln!("{program} healthcheck: {error}");
                return ExitCode::from(crate::cli::USAGE_ERROR);
            }
        },
        _ => {
            eprintln!("{program} healthcheck: at most one argument, the URL to probe");
            return ExitCode::from(crate::cli::USAGE_ERROR);
        }
    };
    match check_target(&target, Duration::from_secs(3)).await {
        Ok(status) => {
            println!("healthy: {}{} answered {status}", target.address(), target.path);
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("unhealthy: {error}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    async fn serve_once(answer: &'static str) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = [0_u8; 512];
            let _ = socket.read(&mut request).await;
            socket.write_all(answer.as_bytes()).await.unwrap();
        });
        port
    }

    #[tokio::test]
    async fn a_2xx_answer_is_healthy() {
        let port = serve_once("HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").await;
        assert_eq!(check(port, "/healthz", Duration::from_secs(2)).await.unwrap(), 200);
    }

    #[tokio::test]
    async fn a_503_answer_is_unhealthy() {
        let port = serve_once("HTTP/1.1 503 Service Unavailable\r\n\r\n").await;
        let error = check(port, "/readyz", Duration::from_secs(2)).await.unwrap_err();
        assert!(matches!(error, ProbeError::Unhealthy { status: 503, .. }), "{error}");
    }

    #[tokio::test]
    async fn a_url_target_resolves_its_host_name() {
        let port = serve_once("HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").await;
        let target = Target::parse(&format!("http://localhost:{port}/api/readyz")).unwrap();
        assert_eq!(check_target(&target, Duration::from_secs(2)).await.unwrap(), 200);
    }

    #[test]
    fn urls_parse_into_host_port_and_path() {
        let parsed = |url| Target::parse(url).unwrap();
        assert_eq!(
            parsed("http://todo-chatbot-frontend:3000/api/readyz"),
            Target { host: "todo-chatbot-frontend".into(), port: 3000, path: "/api/readyz".into() }
        );
        assert_eq!(parsed("http://web.ns.svc"), Target { host: "web.ns.svc".into(), port: 80, path: "/".into() });
        assert_eq!(parsed("http://10.0.0.1:8000?x=1").path, "/?x=1");
    }

    #[test]
    fn urls_the_probe_cannot_follow_are_refused_by_name() {
        for (url, expected) in [
            ("https://web:3000/healthz", TargetError::Scheme("https://web:3000/healthz".into())),
            ("web:3000/healthz", TargetError::Scheme("web:3000/healthz".into())),
            ("http://:3000/healthz", TargetError::Host("http://:3000/healthz".into())),
            ("http://user@web/healthz", TargetError::Host("http://user@web/healthz".into())),
            ("http://web:0/healthz", TargetError::Port("http://web:0/healthz".into())),
            ("http://web:99999/", TargetError::Port("http://web:99999/".into())),
            ("http://web:port/", TargetError::Port("http://web:port/".into())),
        ] {
            assert_eq!(Target::parse(url), Err(expected), "{url}");
        }
    }

    #[tokio::test]
    async fn nothing_listening_is_a_connect_error() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let error = check(port, "/healthz", Duration::from_secs(2)).await.unwrap_err();
        assert!(matches!(error, ProbeError::Connect(..)), "{error}");
    }
}
