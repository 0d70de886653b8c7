//! Waiting for the signals that ask a server to stop: SIGTERM (Kubernetes, Docker) and
//! SIGINT (Ctrl-C at a terminal).

/// Resolves when the first of SIGTERM or SIGINT arrives, and says which.
pub async fn signal() -> &'static str {
    let interrupt = async {
        // If the handler cannot be installed the process still stops on SIGINT by default.
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut stream) => {
                stream.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => "SIGINT",
        () = terminate => "SIGTERM",
    }
}
