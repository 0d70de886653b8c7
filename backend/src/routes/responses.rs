//! The error answers of the API in `/openapi.json`, written once. Each status is one reusable
//! response in `components.responses`, always with the body `ErrorBody`; a route lists the
//! groups below that apply to it next to its own answers:
//!
//! ```text
//! #[utoipa::path(post, path = "/api/{user_id}/tasks", ...,
//!     responses((status = 201, description = "Created", body = Task), OwnUser, JsonBody, Database))]
//! ```
//!
//! A group says why a route can give those statuses (it reads a JSON body, takes a bearer
//! token, reads the database...), so a new route picks its groups from what its handler
//! extracts and does. Statuses that only one route gives (sign-up's 409, the chat's 502) stay
//! tuples on that route, with `body = ErrorBody`. schemathesis checks the result against the
//! running image (`tests/tests/openapi.rs`).

use std::collections::BTreeMap;
use utoipa::openapi::{
    ContentBuilder, Ref, RefOr, ResponseBuilder,
    header::HeaderBuilder,
    response::Response,
    schema::{Object, Type},
};

/// One error status as the document describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    BadRequest,
    Unauthorized,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    UnsupportedMediaType,
    Unprocessable,
    TooManyRequests,
    Unavailable,
}

impl Failure {
    pub const ALL: [Failure; 9] = [
        Failure::BadRequest,
        Failure::Unauthorized,
        Failure::Forbidden,
        Failure::NotFound,
        Failure::PayloadTooLarge,
        Failure::UnsupportedMediaType,
        Failure::Unprocessable,
        Failure::TooManyRequests,
        Failure::Unavailable,
    ];

    pub fn status(self) -> u16 {
        match self {
            Failure::BadRequest => 400,
            Failure::Unauthorized => 401,
            Failure::Forbidden => 403,
            Failure::NotFound => 404,
            Failure::PayloadTooLarge => 413,
            Failure::UnsupportedMediaType => 415,
            Failure::Unprocessable => 422,
            Failure::TooManyRequests => 429,
            Failure::Unavailable => 503,
        }
    }

    /// Its name under `components.responses`.
    pub fn name(self) -> &'static str {
        match self {
            Failure::BadRequest => "BadRequest",
            Failure::Unauthorized => "Unauthorized",
            Failure::Forbidden => "Forbidden",
            Failure::NotFound => "NotFound",
            Failure::PayloadTooLarge => "PayloadTooLarge",
            Failure::UnsupportedMediaType => "UnsupportedMediaType",
            Failure::Unprocessable => "ValidationFailed",
            Failure::TooManyRequests => "RateLimited",
            Failure::Unavailable => "Unavailable",
        }
    }

    fn description(self) -> &'static str {
        match self {
            Failure::BadRequest => "`bad_request`: the body is not well-formed JSON.",
            Failure::Unauthorized => {
                "`unauthorized`: no `Authorization: Bearer <token>`, or the token is invalid or expired, \
                 or its account no longer exists."
            }
            Failure::Forbidden => "`forbidden`: the `{user_id}` in the path is not the token's user.",
            Failure::NotFound => {
                "`not_found`: the user has no task or conversation with this id (another user's, or an id \
                 of the wrong form, looks the same)."
            }
            Failure::PayloadTooLarge => "`payload_too_large`: the body is larger than 64 KiB.",
            Failure::UnsupportedMediaType => "`unsupported_media_type`: the body is not sent as `application/json`.",
            Failure::Unprocessable => {
                "`validation_failed`: fields or query parameters break their rules; `fields` names every one."
            }
            Failure::TooManyRequests => "`rate_limited`: too many attempts; `Retry-After` says when to try again.",
            Failure::Unavailable => {
                "Try again later: `database_unavailable` (with `Retry-After`), `timeout` (the request ran \
                 longer than its time limit) or, for the chat, `model_unavailable` (the model could not be \
                 reached; the message is saved)."
            }
        }
    }

    /// The reusable response for `components.responses`.
    pub fn response(self) -> Response {
        let body = ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorBody"))).build();
        let mut response = ResponseBuilder::new().description(self.description()).content("application/json", body);
        let seconds = || {
            HeaderBuilder::new()
                .schema(Some(Object::with_type(Type::Integer)))
                .description(Some("Seconds to wait before trying again"))
                .build()
        };
        match self {
            Failure::TooManyRequests | Failure::Unavailable => response = response.header("Retry-After", seconds()),
            Failure::Unauthorized => {
                response = response.header(
                    "WWW-Authenticate",
                    HeaderBuilder::new().schema(Some(Object::with_type(Type::String))).build(),
                );
            }
            _ => {}
        }
        response.build()
    }

    fn reference(self) -> (String, RefOr<Response>) {
        (self.status().to_string(), RefOr::Ref(Ref::from_response_name(self.name())))
    }
}

/// Defines response groups: marker types for `responses(...)` in `#[utoipa::path]`.
macro_rules! groups {
    ($($(#[$doc:meta])* $name:ident => [$($failure:ident),+];)+) => {$(
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $name;

        impl utoipa::IntoResponses for $name {
            fn responses() -> BTreeMap<String, RefOr<Response>> {
                [$(Failure::$failure),+].into_iter().map(Failure::reference).collect()
            }
        }
    )+};
}

groups! {
    /// The route finds one of the user's tasks or conversations by id: 404.
    ById => [NotFound];
    /// The route reads a JSON body (`extract::Json`): 400 malformed, 413 too large, 415 not
    /// JSON, 422 a field breaks its rule.
    JsonBody => [BadRequest, PayloadTooLarge, UnsupportedMediaType, Unprocessable];
    /// The route reads an optional JSON body as bytes: as `JsonBody`, but any content type.
    OptionalJsonBody => [BadRequest, PayloadTooLarge, Unprocessable];
    /// The route reads query parameters (`extract::Query`): 422 naming the parameter.
    QueryParams => [Unprocessable];
    /// The route takes `AuthUser`: 401 without a valid bearer token.
    SignedIn => [Unauthorized];
    /// The route takes `OwnedPath`: 401 without a valid token, 403 for another user's `{user_id}`.
    OwnUser => [Unauthorized, Forbidden];
    /// The route counts attempts (sign-in, sign-up, the chat): 429 with `Retry-After`.
    RateLimited => [TooManyRequests];
    /// The route reads PostgreSQL or runs under the request timeout: 503.
    Unavailable => [Unavailable];
}

/// Every reusable error response, for `components.responses`.
pub fn components() -> impl Iterator<Item = (&'static str, Response)> {
    Failure::ALL.into_iter().map(|failure| (failure.name(), failure.response()))
}
