//! What every page shares: the session (kept in localStorage so a reload stays signed in), the
//! current route (the path of `window.location`), a notice for the user, and a counter that
//! tells the task list to reload when the assistant changed tasks.

use super::{api::Credentials, browser};
use api_types::{AuthResponse, BrowserJson, JsonReader};
use dioxus::prelude::*;

const SESSION_KEY: &str = "todo-chatbot.session";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Home,
    SignIn,
    SignUp,
    /// The password change form and "sign out everywhere".
    Account,
}

impl Route {
    /// Unknown paths show the home page (the web server answers them with index.html).
    pub fn from_path(path: &str) -> Self {
        match path.trim_end_matches('/') {
            "/signin" => Route::SignIn,
            "/signup" => Route::SignUp,
            "/account" => Route::Account,
            _ => Route::Home,
        }
    }

    pub fn path(self) -> &'static str {
        match self {
            Route::Home => "/",
            Route::SignIn => "/signin",
            Route::SignUp => "/signup",
            Route::Account => "/account",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeKind {
    Info,
    Error,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    pub kind: NoticeKind,
    pub text: String,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AppState {
    pub session: Signal<Option<AuthResponse>>,
    pub route: Signal<Route>,
    /// Shown on the next page (e.g. "your session expired" on the sign-in page).
    pub notice: Signal<Option<Notice>>,
    /// Bumped whenever tasks changed outside the list's own rows (the assistant ran a tool, or
    /// the add form added one): the task list reloads.
    pub tasks_changed: Signal<u64>,
}

impl AppState {
    pub fn new() -> Self {
        Self {
            session: Signal::new(load_session()),
            route: Signal::new(Route::from_path(&browser::pathname())),
            notice: Signal::new(None),
            tasks_changed: Signal::new(0),
        }
    }

    pub fn credentials(&self) -> Option<Credentials> {
        self.session.read().as_ref().map(Credentials::from)
    }

    pub fn navigate(mut self, route: Route) {
        if *self.route.peek() != route {
            browser::push_path(route.path());
            self.route.set(route);
        }
    }

    /// Replaces the history entry, for redirects that should not be "back"-able.
    pub fn redirect(mut self, route: Route) {
        if *self.route.peek() != route {
            browser::replace_path(route.path());
            self.route.set(route);
        }
    }

    pub fn signed_in(mut self, session: AuthResponse) {
        store_session(Some(&session));
        self.session.set(Some(session));
        self.notice.set(None);
        self.navigate(Route::Home);
    }

    /// A new token for the same person (after a password change): stay on this page.
    pub fn session_renewed(mut self, session: AuthResponse) {
        store_session(Some(&session));
        self.session.set(Some(session));
    }

    pub fn sign_out(mut self, notice: Option<Notice>) {
        store_session(None);
        self.session.set(None);
        self.notice.set(notice);
        self.navigate(Route::SignIn);
    }

    /// Every failed authenticated call goes through here: a 401 ends the session and sends the
    /// user to the sign-in page with a reason; anything else returns the sentence to show.
    pub fn failed(self, error: &super::api::ApiError) -> String {
        if let super::api::ApiError::Unauthorized(body) = error {
            // The API says why: expired, signed out, ended by a password change elsewhere, or
            // past the session's maximum lifetime.
            // strip_suffix in a loop is trim_end_matches without the reverse substring search,
            // which nothing else in the app needs.
            let mut reason = body.message.as_str();
            while let Some(rest) = reason.strip_suffix(": sign in again") {
                reason = rest;
            }
            let reason = reason.trim_end_matches('.');
            let text = format!("You have been signed out: {reason}. Please sign in again.");
            self.sign_out(Some(Notice { kind: NoticeKind::Error, text }));
        }
        error.message()
    }

    /// The task list reloads (see `tasks_changed`).
    pub fn tasks_changed_elsewhere(mut self) {
        *self.tasks_changed.write() += 1;
    }
}

fn load_session() -> Option<AuthResponse> {
    let raw = browser::storage_get(SESSION_KEY)?;
    match BrowserJson.read::<AuthResponse>(&raw) {
        // An expired token would only earn a 401; forget it now.
        Ok(session) if session.expires_at > super::time::now() => Some(session),
        _ => {
            browser::storage_remove(SESSION_KEY);
            None
        }
    }
}

fn store_session(session: Option<&AuthResponse>) {
    match session.and_then(|session| BrowserJson.write(session).ok()) {
        Some(json) => browser::storage_set(SESSION_KEY, &String::from(json)),
        None => browser::storage_remove(SESSION_KEY),
    }
}
