//! Reporting an error that stops a program. A crash-looping pod leaves one line behind, so that
//! line names the part that failed and then every cause in turn: "builder error" alone says
//! nothing, "…: builder error: permission denied" says what to fix.

use std::{error::Error, process::ExitCode};

/// `error` followed by each of its `source()`s, joined with ": ". A cause whose text the
/// message so far already ends with is skipped: many errors print their source themselves.
pub fn chain(error: &(dyn Error + 'static)) -> String {
    let mut message = error.to_string();
    let mut cause = error.source();
    while let Some(source) = cause {
        let text = source.to_string();
        if !text.is_empty() && !message.ends_with(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        cause = source.source();
    }
    message
}

/// Logs `<what>: <the whole cause chain>` as a JSON log line and on stderr (the log may not be
/// set up yet, or filtered), and returns the exit status for a failure.
pub fn exit(program: &str, what: &str, error: &(dyn Error + 'static)) -> ExitCode {
    let chain = chain(error);
    tracing::error!(error = %chain, "{what}");
    eprintln!("{program}: {what}: {chain}");
    ExitCode::FAILURE
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("the model client for OPENAI_BASE_URL=https://llm.internal/v1 could not be built")]
    struct Outer(#[source] Middle);

    #[derive(Debug, thiserror::Error)]
    #[error("builder error")]
    struct Middle(#[source] std::io::Error);

    #[test]
    fn every_cause_is_named_in_order() {
        let error = Outer(Middle(std::io::Error::from(std::io::ErrorKind::PermissionDenied)));
        assert_eq!(
            chain(&error),
            "the model client for OPENAI_BASE_URL=https://llm.internal/v1 could not be built: builder error: \
             permission denied"
        );
    }

    #[derive(Debug, thiserror::Error)]
    #[error("could not read the bundle: {0}")]
    struct Repeats(#[source] std::io::Error);

    #[test]
    fn a_cause_already_printed_by_its_parent_is_not_repeated() {
        let error = Repeats(std::io::Error::other("disk on fire"));
        assert_eq!(chain(&error), "could not read the bundle: disk on fire");
    }
}
