//! The browser app: sign up and sign in, then the task list and the assistant side by side.
//! Routing is the path of `window.location` in a signal (four pages need no router crate);
//! the web server answers every unknown path with index.html, so deep links and reloads work.

mod account;
mod api;
mod auth;
mod browser;
mod chat;
mod state;
mod tasks;
mod time;

use dioxus::prelude::*;
use state::{AppState, NoticeKind, Route};
use std::sync::atomic::{AtomicBool, Ordering};

/// dioxus-web's own launch, not `dioxus::launch`'s builder, which picks a platform and collects
/// contexts and configurations this app does not have.
pub fn launch() {
    dioxus::web::launch::launch_virtual_dom(VirtualDom::new(App), dioxus::web::Config::new());
}

#[component]
fn App() -> Element {
    let app = use_context_provider(AppState::new);
    use_hook(move || {
        let mut route = app.route;
        browser::on_popstate(move |path| route.set(Route::from_path(&path)));
    });

    let signed_in = app.session.read().is_some();
    let route = *app.route.read();
    // Pages that do not fit the session are redirected, not rendered.
    let shown = match (signed_in, route) {
        (false, Route::Home | Route::Account) => Route::SignIn,
        (true, Route::SignIn | Route::SignUp) => Route::Home,
        (_, route) => route,
    };
    // One effect for both jobs (each use_effect is its own copy of Dioxus' effect code): the
    // redirect whenever the session or the route changes, and the mark after the first render.
    // The flag is a static: the effect's closure is replaced by each render's, and the app's
    // root renders for the first time once per page.
    static FIRST_RENDER_MARKED: AtomicBool = AtomicBool::new(false);
    use_effect(move || {
        let signed_in = app.session.read().is_some();
        let route = *app.route.read();
        match (signed_in, route) {
            (false, Route::Home | Route::Account) => app.redirect(Route::SignIn),
            (true, Route::SignIn | Route::SignUp) => app.redirect(Route::Home),
            _ => {}
        }
        if !FIRST_RENDER_MARKED.swap(true, Ordering::Relaxed) {
            browser::mark("todo-chatbot:first-render");
        }
    });

    rsx! {
        a { class: "skip-link", href: "#content", "Skip to content" }
        match shown {
            Route::SignIn => rsx! { auth::SignIn {} },
            Route::SignUp => rsx! { auth::SignUp {} },
            Route::Home => rsx! { Home {} },
            Route::Account => rsx! { account::Account {} },
        }
    }
}

#[component]
fn Home() -> Element {
    let app = use_context::<AppState>();
    // A restored session is checked once; a revoked token ends it with the usual 401 path. A
    // task spawned once, owned by this page: use_future would add state and pause handling
    // that nothing here reads.
    use_hook(move || {
        spawn(async move {
            let Some(credentials) = app.credentials() else { return };
            if let Err(error) = api::me(&credentials).await {
                app.failed(&error);
            }
        })
    });
    let name = app.session.read().as_ref().map(|session| session.user.name.clone()).unwrap_or_default();
    rsx! {
        header { class: "topbar",
            div { class: "brand",
                span { class: "logo", aria_hidden: "true", "✓" }
                // The page's one level-one heading: screen readers jump to it first.
                h1 { class: "brand-name", "todo-chatbot" }
            }
            div { class: "account",
                span { class: "who", "Signed in as " strong { "{name}" } }
                a {
                    id: "account-link",
                    href: "/account",
                    onclick: move |e: MouseEvent| { e.prevent_default(); app.navigate(Route::Account) },
                    "Change password"
                }
                account::SignOutButton {}
            }
        }
        main { id: "content", class: "workspace", tabindex: "-1",
            tasks::TaskPanel {}
            chat::ChatPanel {}
        }
    }
}

/// The notice left for this page, if any (e.g. why the user was signed out).
fn notice_banner(app: AppState) -> Element {
    let notice = app.notice.read().clone();
    match notice {
        Some(notice) => {
            let class = match notice.kind {
                NoticeKind::Info => "notice info",
                NoticeKind::Error => "notice error",
            };
            rsx! { p { class, role: "status", "{notice.text}" } }
        }
        None => rsx! {},
    }
}

/// The `oninput` of a text field (or a select's `onchange`): keeps `signal` equal to what is
/// typed or chosen. Every field of the app shares this one closure type, so Dioxus' listener
/// code is compiled once for all of them instead of once per field.
fn typed_into(mut signal: Signal<String>) -> impl FnMut(FormEvent) + 'static {
    move |event| signal.set(event.value())
}

/// A resource's task as one type: the two `use_resource`s of the app (the task list's and the
/// conversation list's) then share Dioxus' code for polling it.
fn boxed(
    task: impl std::future::Future<Output = ()> + 'static,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()>>> {
    Box::pin(task)
}
