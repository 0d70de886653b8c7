//! `/account`: change the password (current, new, confirm) and sign out of every device; and
//! the sign-out button of the top bar. Signing out always asks the API to end the session, so
//! that a copied token stops working too.

use super::{
    api::{self, ApiError},
    auth::{auth_layout, field, form_error},
    notice_banner,
    state::{AppState, Notice, NoticeKind, Route},
    typed_into,
};
use api_types::ChangePasswordRequest;
use dioxus::prelude::*;

fn info(text: &str) -> Option<Notice> {
    Some(Notice { kind: NoticeKind::Info, text: text.to_owned() })
}

/// Ends this session on the server, then here. A 401 means the server had ended it already.
#[component]
pub fn SignOutButton() -> Element {
    let app = use_context::<AppState>();
    let mut busy = use_signal(|| false);
    let sign_out = move |_| {
        if busy() {
            return;
        }
        let Some(credentials) = app.credentials() else { return };
        busy.set(true);
        spawn(async move {
            let notice = match api::sign_out(&credentials).await {
                Ok(()) | Err(ApiError::Unauthorized(_)) => info("You have signed out."),
                // Forgetting the token here is still right; say that the server did not confirm.
                Err(failure) => Some(Notice {
                    kind: NoticeKind::Error,
                    text: format!(
                        "You have signed out in this browser, but the server did not confirm ending the session: {} \
                         Use \"Sign out everywhere\" after signing in again to be sure.",
                        failure.message()
                    ),
                }),
            };
            busy.set(false);
            app.sign_out(notice);
        });
    };
    rsx! {
        button { id: "sign-out", r#type: "button", class: "secondary", disabled: busy(), onclick: sign_out, "Sign out" }
    }
}

#[component]
pub fn Account() -> Element {
    let app = use_context::<AppState>();
    let current = use_signal(String::new);
    let new = use_signal(String::new);
    let confirm = use_signal(String::new);
    let mut busy = use_signal(|| false);
    let mut error = use_signal(|| None::<ApiError>);
    let mut confirm_error = use_signal(|| None::<String>);
    let mut changed = use_signal(|| false);
    let mut everywhere_error = use_signal(|| None::<String>);

    let submit = move |event: FormEvent| {
        // Without this the browser would submit the form itself and reload the page.
        event.prevent_default();
        if busy() {
            return;
        }
        changed.set(false);
        error.set(None);
        // Checked here only: the API never sees the confirmation.
        if new() != confirm() {
            confirm_error.set(Some("The two new passwords do not match.".to_owned()));
            return;
        }
        confirm_error.set(None);
        let Some(credentials) = app.credentials() else { return };
        let request = ChangePasswordRequest { current_password: current(), new_password: new() };
        busy.set(true);
        spawn(async move {
            match api::change_password(&credentials, &request).await {
                Ok(session) => {
                    app.session_renewed(session);
                    for mut field in [current, new, confirm] {
                        field.set(String::new());
                    }
                    changed.set(true);
                }
                Err(failure @ ApiError::Unauthorized(_)) => {
                    app.failed(&failure);
                }
                Err(failure) => error.set(Some(failure)),
            }
            busy.set(false);
        });
    };

    let sign_out_everywhere = move |_| {
        let Some(credentials) = app.credentials() else { return };
        everywhere_error.set(None);
        spawn(async move {
            match api::sign_out_everywhere(&credentials).await {
                Ok(()) => app.sign_out(info("You have signed out on every device.")),
                Err(failure) => {
                    let message = app.failed(&failure);
                    everywhere_error.set(Some(message));
                }
            }
        });
    };

    let field_error = move |name: &str| error().and_then(|e| e.field(name));
    rsx! {
        {auth_layout("Change your password", rsx! {
            {notice_banner(app)}
            if changed() {
                p { id: "password-changed", class: "notice info", role: "status",
                    "Your password has been changed. Every other device has been signed out; this one stays signed in."
                }
            }
            form { class: "auth-form", novalidate: true, onsubmit: submit,
                {form_error(error())}
                {field("current-password", "Current password", None, field_error("current_password"), "", rsx! {
                    input {
                        id: "current-password", r#type: "password", autocomplete: "current-password", required: true,
                        autofocus: true, value: "{current}", oninput: typed_into(current),
                    }
                })}
                {field("new-password", "New password", Some("At least 8 characters."), field_error("new_password"), "", rsx! {
                    input {
                        id: "new-password", r#type: "password", autocomplete: "new-password", required: true,
                        minlength: "8", value: "{new}", oninput: typed_into(new),
                    }
                })}
                {field("confirm-password", "New password, again", None, confirm_error(), "", rsx! {
                    input {
                        id: "confirm-password", r#type: "password", autocomplete: "new-password", required: true,
                        value: "{confirm}", oninput: typed_into(confirm),
                    }
                })}
                button { r#type: "submit", class: "primary wide", disabled: busy(),
                    {if busy() { "Changing your password…" } else { "Change password" }}
                }
            }
            section { class: "everywhere",
                h2 { "Lost a device?" }
                p { "Sign out of every browser and app that is signed in to your account, this one included." }
                if let Some(message) = everywhere_error() {
                    p { class: "form-error", role: "alert", "{message}" }
                }
                button { id: "sign-out-everywhere", r#type: "button", class: "secondary wide", onclick: sign_out_everywhere,
                    "Sign out everywhere"
                }
            }
            p { class: "switch",
                a { id: "back-to-tasks", href: "/", onclick: move |e: MouseEvent| { e.prevent_default(); app.navigate(Route::Home) },
                    "Back to your tasks"
                }
            }
        })}
    }
}
