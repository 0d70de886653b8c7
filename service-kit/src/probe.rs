//! The `healthcheck` subcommand of both binaries. Scratch images have no shell and no curl,
//! so Docker and compose healthchecks run the server binary itself in this mode.

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

/// GETs `path` on 127.0.0.1:`port` and succeeds on a 2xx answer.
pub async fn check(port: u16, path: &str, timeout: Duration) -> Result<u16, ProbeError> {
    let address = format!("127.0.0.1:{port}");
    tokio::time::timeout(timeout, get_status(&address, path))
        .await
        .map_err(|_| ProbeError::Timeout(address.clone(), timeout))?
        .and_then(|status| {
            if (200..300).contains(&status) {
                Ok(status)
            } else {
                Err(ProbeError::Unhealthy { address, path: path.to_owned(), status })
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

/// The `healthcheck` subcommand: probes `/healthz` on `$PORT` (else `default_port`) and turns
/// the result into an exit code, printing one line.
pub async fn healthcheck(program: &str, default_port: u16) -> ExitCode {
    let port = match Env::process().parsed_or("PORT", default_port) {
        Ok(port) => port,
        Err(error) => return error.exit(program),
    };
    match check(port, "/healthz", Duration::from_secs(3)).await {
        Ok(status) => {
            println!("healthy: 127.0.0.1:{port}/healthz answered {status}");
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
    async fn nothing_listening_is_a_connect_error() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let error = check(port, "/healthz", Duration::from_secs(2)).await.unwrap_err();
        assert!(matches!(error, ProbeError::Connect(..)), "{error}");
    }
}
