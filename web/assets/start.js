// Starts the app. A file rather than an inline script, so the Content-Security-Policy can
// allow scripts from this origin only.
import init from "/pkg/web.js";
init({ module_or_path: "/pkg/web_bg.wasm" });
