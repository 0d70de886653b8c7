//! Swagger UI for `/docs`, taken from the Swagger UI release that `utoipa-swagger-ui-vendored`
//! carries (nothing is downloaded): only the two files the page loads, gzip-compressed once here
//! instead of the whole 4.3 MB distribution stored raw in the binary.

use std::{env, fs, io::Read, io::Write, path::PathBuf};

/// What `/docs` loads; the release's other bundles (ES modules, the unbundled build) and its
/// source files are never requested.
const FILES: [&str; 2] = ["swagger-ui-bundle.js", "swagger-ui.css"];

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let release = std::io::Cursor::new(utoipa_swagger_ui_vendored::SWAGGER_UI_VENDORED);
    let mut archive = zip::ZipArchive::new(release).expect("the vendored Swagger UI is a zip archive");
    for name in FILES {
        // The archive holds one top folder, `swagger-ui-<version>/`, with the built files in dist/.
        let mut content = Vec::new();
        let mut found = false;
        for index in 0..archive.len() {
            let mut entry = archive.by_index(index).expect("a readable archive");
            let path = entry.name().expect("a UTF-8 name").into_owned();
            if path.split('/').nth(1) == Some("dist") && path.ends_with(&format!("/{name}")) {
                entry.read_to_end(&mut content).expect("a readable entry");
                found = true;
                break;
            }
        }
        assert!(found, "dist/{name} is missing from the vendored Swagger UI");
        // No file name or time in the header: the same bytes on every build.
        let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gzip.write_all(&content).expect("compressing to memory");
        fs::write(out.join(format!("{name}.gz")), gzip.finish().expect("compressing to memory"))
            .expect("OUT_DIR is writable");
    }
    println!("cargo::rerun-if-changed=build.rs");
}
