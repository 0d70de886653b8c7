#!/bin/sh
# cargo for the browser app (wasm32-unknown-unknown), as the web image builds it: std is
# compiled again from the toolchain's rust-src, optimised for size, with panics that trap at once
# instead of formatting a message nobody reads, no source locations, and derived `Debug` impls
# that print the type's name only (the app shows no derived `Debug` output; `{:?}` of a string
# is str's own impl and unchanged): about 21 KB less brotli (docs/benchmarks.md).
# These are unstable flags, allowed by RUSTC_BOOTSTRAP on the one compiler rust-toolchain.toml
# pins, and only in these invocations: the server and the host's builds stay on stable Rust.
export RUSTC_BOOTSTRAP=1
export CARGO_UNSTABLE_BUILD_STD=std,panic_abort
export CARGO_UNSTABLE_BUILD_STD_FEATURES=optimize_for_size
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="-Zunstable-options -Cpanic=immediate-abort -Zlocation-detail=none -Zfmt-debug=shallow"
exec cargo "$@"
