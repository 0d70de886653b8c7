//! A streamed chat turn on the wire: `text/event-stream`, each event framed by
//! `api_types::stream::encode`, a comment line in every long silence.

use api_types::{ChatEvent, ErrorBody, stream::encode};
use axum::{
    body::Body,
    http::{HeaderName, HeaderValue, header},
    response::{IntoResponse, Response},
};
use std::{convert::Infallible, time::Duration};
use tokio::sync::mpsc::UnboundedReceiver;

/// A comment after this much silence (a model thinking, a slow tool): proxies and load
/// balancers close a connection idle for 30 to 60 s, and a comment is ignored by every client.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// Whether an `Accept` header asks for server-sent events.
pub fn wanted(accept: Option<&HeaderValue>) -> bool {
    let Some(accept) = accept.and_then(|value| value.to_str().ok()) else { return false };
    accept.split(',').any(|range| {
        let media = range.split(';').next().unwrap_or_default().trim();
        media.eq_ignore_ascii_case("text/event-stream")
    })
}

/// The 200 response whose body is the events of `receiver` until the last one, with a
/// keep-alive comment every `keep_alive` of silence.
pub fn response(receiver: UnboundedReceiver<ChatEvent>, keep_alive: Duration) -> Response {
    let body = futures_util::stream::unfold(Some(receiver), move |receiver| async move {
        let mut receiver = receiver?;
        let frame = match tokio::time::timeout(keep_alive, receiver.recv()).await {
            Ok(Some(event)) if event.is_last() => return Some((Ok::<_, Infallible>(encode(&event)), None)),
            Ok(Some(event)) => encode(&event),
            // The turn ended without its last event: only a panic does that. The stream
            // still ends the one way the protocol promises.
            Ok(None) => {
                let error = ErrorBody {
                    error: "internal".to_owned(),
                    message: "internal error".to_owned(),
                    fields: Vec::new(),
                };
                return Some((Ok(encode(&ChatEvent::Error { status: 500, error })), None));
            }
            Err(_) => ": keep-alive\n\n".to_owned(),
        };
        Some((Ok(frame), Some(receiver)))
    });
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream")),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            // nginx (and ingress-nginx) would otherwise hold the events back in its buffer.
            (HeaderName::from_static("x-accel-buffering"), HeaderValue::from_static("no")),
        ],
        Body::from_stream(body),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use api_types::stream::SseDecoder;
    use tokio::sync::mpsc;

    #[test]
    fn only_an_accept_naming_event_stream_streams() {
        let wants = |value: &str| wanted(Some(&HeaderValue::from_str(value).unwrap()));
        assert!(wants("text/event-stream"));
        assert!(wants("application/json;q=0.5, Text/Event-Stream; q=1"));
        assert!(!wants("application/json"));
        assert!(!wants("*/*"));
        assert!(!wanted(None));
    }

    async fn body_text(response: Response) -> String {
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn silence_gets_keep_alives_and_the_stream_ends_after_the_last_event() {
        let (sender, receiver) = mpsc::unbounded_channel();
        let response = response(receiver, KEEP_ALIVE);
        assert_eq!(response.headers()[header::CONTENT_TYPE], "text/event-stream");
        assert_eq!(response.headers()["x-accel-buffering"], "no");
        let turn = tokio::spawn(async move {
            sender.send(ChatEvent::Started { conversation_id: "c".into() }).unwrap();
            // Paused time: this sleep passes at once, and the keep-alives it spans come out.
            tokio::time::sleep(KEEP_ALIVE * 2 + KEEP_ALIVE / 2).await;
            sender.send(ChatEvent::TextDelta { text: "hi".into() }).unwrap();
            let error = ErrorBody { error: "timeout".into(), message: "late".into(), fields: vec![] };
            sender.send(ChatEvent::Error { status: 503, error }).unwrap();
            // Sent after the last event: never framed.
            let _ = sender.send(ChatEvent::TextDelta { text: "after".into() });
        });
        let text = body_text(response).await;
        turn.await.unwrap();
        assert_eq!(text.matches(": keep-alive\n\n").count(), 2, "{text}");
        let names: Vec<String> = SseDecoder::new().push(text.as_bytes()).into_iter().map(|e| e.event).collect();
        assert_eq!(names, ["started", "text_delta", "error"]);
    }

    #[tokio::test]
    async fn a_turn_that_vanishes_still_ends_the_stream_with_an_error() {
        let (sender, receiver) = mpsc::unbounded_channel();
        sender.send(ChatEvent::Started { conversation_id: "c".into() }).unwrap();
        drop(sender);
        let text = body_text(response(receiver, KEEP_ALIVE)).await;
        let events = SseDecoder::new().push(text.as_bytes());
        assert_eq!(events.last().map(|event| event.event.as_str()), Some("error"), "{text}");
    }
}
