//! Embeds the dashboard (`web/` at the workspace root) into the binary: generates a table of
//! `(relative path, include_bytes!(…))`. A missing `web/` yields an empty table.

use std::path::{Path, PathBuf};

const EXTENSIONS: &[&str] = &[
    "html",
    "css",
    "js",
    "mjs",
    "svg",
    "png",
    "ico",
    "json",
    "webmanifest",
    "woff2",
    "woff",
    "txt",
    "map",
    "jpg",
    "webp",
];
const MAX_FILE: u64 = 8 * 1024 * 1024;

fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, PathBuf)>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || name == "node_modules" || name == "tests" || name == "test" {
            continue;
        }
        let Ok(meta) = entry.metadata() else { continue };
        if meta.is_dir() {
            walk(root, &path, out);
        } else if meta.is_file() && meta.len() <= MAX_FILE {
            let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
            if EXTENSIONS.contains(&ext.as_str()) {
                if let Ok(rel) = path.strip_prefix(root) {
                    let rel = rel.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/");
                    out.push((rel, path.canonicalize().unwrap_or(path.clone())));
                }
            }
        }
    }
}

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let web = manifest.join("../../web");
    println!("cargo:rerun-if-changed={}", web.display());
    println!("cargo:rerun-if-changed=build.rs");
    let mut files = Vec::new();
    if web.is_dir() {
        walk(&web, &web, &mut files);
        for (_, p) in &files {
            println!("cargo:rerun-if-changed={}", p.display());
        }
    }
    files.sort();
    let mut code = String::from(
        "/// Embedded dashboard files: (path relative to web/, contents).\npub static ASSETS: &[(&str, &[u8])] = &[\n",
    );
    for (rel, abs) in &files {
        code.push_str(&format!("    ({rel:?}, include_bytes!({:?})),\n", abs.display().to_string()));
    }
    code.push_str("];\n");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR")).join("assets.rs");
    std::fs::write(out, code).expect("write assets.rs");
}
