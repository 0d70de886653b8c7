//! One crate, two programs: compiled for wasm32 it is the browser app; compiled natively it
//! is `web [serve|healthcheck]`, the server that ships the app and forwards `/api`.

#[cfg(target_arch = "wasm32")]
mod app;
// The chat panel's logic, kept free of browser APIs so its tests run on the host.
#[cfg(any(target_arch = "wasm32", test))]
mod chat_log;
#[cfg(not(target_arch = "wasm32"))]
mod server;

#[cfg(target_arch = "wasm32")]
fn main() {
    app::launch();
}

// musl's allocator serialises threads; mimalloc keeps the static build fast under load.
#[cfg(target_env = "musl")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    server::main()
}
