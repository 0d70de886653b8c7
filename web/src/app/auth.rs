//! `/signin` and `/signup`: one form each; the API's field errors appear next to their inputs.

use super::{
    api::{self, ApiError},
    notice_banner,
    state::{AppState, Route},
    typed_into,
};
use api_types::{SignInRequest, SignUpRequest};
use dioxus::prelude::*;

#[component]
pub fn SignIn() -> Element {
    let app = use_context::<AppState>();
    let email = use_signal(String::new);
    let password = use_signal(String::new);
    let form = use_auth_form();
    let (busy, error) = (form.busy, form.error);

    let submit = move |event: FormEvent| {
        let request = SignInRequest { email: email().trim().to_owned(), password: password() };
        form.submit(event, app, AuthRequest::SignIn(request))
    };

    rsx! {
        {auth_layout("Sign in", rsx! {
            {notice_banner(app)}
            form { class: "auth-form", novalidate: true, onsubmit: submit,
                {form_error(error())}
                {field("signin-email", "Email", None, error().and_then(|e| e.field("email")), "", rsx! {
                    input {
                        id: "signin-email", r#type: "email", autocomplete: "email", required: true, autofocus: true,
                        value: "{email}", oninput: typed_into(email),
                    }
                })}
                {field("signin-password", "Password", None, error().and_then(|e| e.field("password")), "", rsx! {
                    input {
                        id: "signin-password", r#type: "password", autocomplete: "current-password", required: true,
                        value: "{password}", oninput: typed_into(password),
                    }
                })}
                button { r#type: "submit", class: "primary wide", disabled: busy(),
                    {if busy() { "Signing in…" } else { "Sign in" }}
                }
            }
            p { class: "switch",
                "New here? "
                a { href: "/signup", onclick: move |e: MouseEvent| { e.prevent_default(); app.navigate(Route::SignUp) }, "Create an account" }
            }
        })}
    }
}

#[component]
pub fn SignUp() -> Element {
    let app = use_context::<AppState>();
    let name = use_signal(String::new);
    let email = use_signal(String::new);
    let password = use_signal(String::new);
    let form = use_auth_form();
    let (busy, error) = (form.busy, form.error);

    let submit = move |event: FormEvent| {
        let request =
            SignUpRequest { email: email().trim().to_owned(), password: password(), name: name().trim().to_owned() };
        form.submit(event, app, AuthRequest::SignUp(request))
    };

    rsx! {
        {auth_layout("Create your account", rsx! {
            form { class: "auth-form", novalidate: true, onsubmit: submit,
                {form_error(error())}
                {field("signup-name", "Name", None, error().and_then(|e| e.field("name")), "", rsx! {
                    input {
                        id: "signup-name", r#type: "text", autocomplete: "name", required: true, autofocus: true,
                        value: "{name}", oninput: typed_into(name),
                    }
                })}
                {field("signup-email", "Email", None, error().and_then(|e| e.field("email")), "", rsx! {
                    input {
                        id: "signup-email", r#type: "email", autocomplete: "email", required: true,
                        value: "{email}", oninput: typed_into(email),
                    }
                })}
                {field("signup-password", "Password", Some("At least 8 characters."), error().and_then(|e| e.field("password")), "", rsx! {
                    input {
                        id: "signup-password", r#type: "password", autocomplete: "new-password", required: true,
                        minlength: "8", value: "{password}", oninput: typed_into(password),
                    }
                })}
                button { r#type: "submit", class: "primary wide", disabled: busy(),
                    {if busy() { "Creating your account…" } else { "Create account" }}
                }
            }
            p { class: "switch",
                "Already have an account? "
                a { href: "/signin", onclick: move |e: MouseEvent| { e.prevent_default(); app.navigate(Route::SignIn) }, "Sign in" }
            }
        })}
    }
}

/// What the sign-in and sign-up forms send. One type, so that `AuthForm::submit` and the task
/// it spawns are compiled once for both forms.
enum AuthRequest {
    SignIn(SignInRequest),
    SignUp(SignUpRequest),
}

/// What the sign-in and sign-up forms share: busy while their request runs, the API's error
/// when it failed, and a session for the app when it worked.
#[derive(Clone, Copy)]
struct AuthForm {
    busy: Signal<bool>,
    error: Signal<Option<ApiError>>,
}

fn use_auth_form() -> AuthForm {
    AuthForm { busy: use_signal(|| false), error: use_signal(|| None) }
}

impl AuthForm {
    /// Sends `request` unless one is already on its way, then signs in or shows the error.
    fn submit(mut self, event: FormEvent, app: AppState, request: AuthRequest) {
        // Without this the browser would submit the form itself and reload the page.
        event.prevent_default();
        if (self.busy)() {
            return;
        }
        spawn(async move {
            self.busy.set(true);
            self.error.set(None);
            let answer = match request {
                AuthRequest::SignIn(request) => api::sign_in(&request).await,
                AuthRequest::SignUp(request) => api::sign_up(&request).await,
            };
            match answer {
                Ok(session) => app.signed_in(session),
                Err(failure) => self.error.set(Some(failure)),
            }
            self.busy.set(false);
        });
    }
}

/// The card around the sign-in, sign-up and account pages.
pub fn auth_layout(title: &str, children: Element) -> Element {
    rsx! {
        main { id: "content", class: "auth-page",
            div { class: "auth-card",
                div { class: "brand big",
                    span { class: "logo", aria_hidden: "true", "✓" }
                    span { class: "brand-name", "todo-chatbot" }
                }
                p { class: "tagline", "Your tasks, managed by talking to them." }
                h1 { "{title}" }
                {children}
            }
        }
    }
}

/// A label, the input, a hint and the API's message for this field. A function rather than a
/// component: it has no state of its own, and each component costs the app its own props
/// type and render wrapper.
pub fn field(id: &str, label: &str, hint: Option<&str>, error: Option<String>, class: &str, input: Element) -> Element {
    let class = format!("field {class}{}", if error.is_some() { " invalid" } else { "" });
    rsx! {
        div { class,
            label { r#for: "{id}", "{label}" }
            {input}
            if let Some(hint) = hint {
                small { class: "hint", "{hint}" }
            }
            if let Some(error) = error {
                small { class: "field-error", id: "{id}-error", role: "alert", "{error}" }
            }
        }
    }
}

/// The error of the whole form, when there is one that no single field owns.
pub fn form_error(error: Option<ApiError>) -> Element {
    match error {
        Some(error) => rsx! { p { class: "form-error", role: "alert", "{error.message()}" } },
        None => rsx! {},
    }
}
