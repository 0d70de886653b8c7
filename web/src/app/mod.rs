//! The browser app. For now one page that tells whether the backend is ready; the task list
//! and the chat come next.

mod api;

use api_types::{CheckStatus, Readiness};
use dioxus::prelude::*;

pub fn launch() {
    dioxus::launch(App);
}

#[component]
fn App() -> Element {
    let mut readiness = use_resource(api::readiness);
    rsx! {
        main { class: "shell",
            header { class: "brand",
                h1 { "todo-chatbot" }
                p { class: "tagline", "Your tasks, managed by talking to them." }
            }
            section { class: "card", aria_live: "polite",
                h2 { "Service status" }
                match &*readiness.read() {
                    None => rsx! { p { class: "status pending", "Checking the backend…" } },
                    Some(Err(error)) => rsx! {
                        p { class: "status failing", "The backend could not be reached: {error}" }
                    },
                    Some(Ok(status)) => rsx! { ReadinessView { readiness: status.clone() } },
                }
                button { r#type: "button", onclick: move |_| readiness.restart(), "Check again" }
            }
        }
    }
}

#[component]
fn ReadinessView(readiness: Readiness) -> Element {
    let (class, headline) =
        if readiness.is_ready() { ("status ok", "Backend ready") } else { ("status failing", "Backend not ready") };
    rsx! {
        p { class, "{headline}" }
        ul { class: "checks",
            for check in readiness.checks {
                li { key: "{check.name}",
                    span { class: if check.status == CheckStatus::Ok { "dot ok" } else { "dot failing" }, aria_hidden: "true" }
                    strong { "{check.name}" }
                    " — {check.detail}"
                }
            }
        }
    }
}
