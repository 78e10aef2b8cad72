//! The dashboard, embedded at build time from `web/` (see build.rs): `GET /batch` serves
//! `web/index.html`, `GET /assets/<path>` serves `web/assets/<path>` (or `web/<path>`).

use axum::extract::Path;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};

include!(concat!(env!("OUT_DIR"), "/assets.rs"));

/// An embedded file by its path relative to `web/`.
pub fn get(path: &str) -> Option<&'static [u8]> {
    ASSETS.iter().find(|(p, _)| *p == path).map(|(_, b)| *b)
}

pub fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or("").to_ascii_lowercase().as_str() {
        "html" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "json" | "map" => "application/json",
        "webmanifest" => "application/manifest+json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" => "image/jpeg",
        "webp" => "image/webp",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "woff" => "font/woff",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

fn file(path: &str, bytes: &'static [u8]) -> Response {
    let mut resp = bytes.into_response();
    let h = resp.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type(path)));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    resp
}

pub async fn root() -> Redirect {
    Redirect::temporary("/batch")
}

pub async fn index() -> Response {
    match get("index.html") {
        Some(b) => file("index.html", b),
        None => (StatusCode::NOT_FOUND, "the dashboard was not built into this binary (web/index.html missing)")
            .into_response(),
    }
}

pub async fn asset(Path(path): Path<String>) -> Response {
    if path.split('/').any(|seg| seg.is_empty() || seg == "." || seg == ".." || seg.starts_with('.')) {
        return StatusCode::NOT_FOUND.into_response();
    }
    let candidates = [format!("assets/{path}"), path.clone()];
    for c in &candidates {
        if let Some(b) = get(c) {
            return file(c, b);
        }
    }
    StatusCode::NOT_FOUND.into_response()
}

#[cfg(test)]
mod tests {
    //! The dashboard is plain ES modules loaded by the browser as they are (no bundler), so a
    //! misspelt import or a module missing from the binary would only show up as a blank
    //! page. These read the embedded modules the way the browser resolves them.

    use std::collections::{BTreeMap, BTreeSet};

    use super::*;

    /// The embedded dashboard, or `None` in a build without `web/` (a packaged crate).
    fn embedded() -> Option<BTreeMap<&'static str, &'static str>> {
        let on_disk = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../web/index.html").is_file();
        if !on_disk {
            return None;
        }
        assert!(get("index.html").is_some(), "web/ exists but was not embedded (build.rs)");
        Some(
            ASSETS
                .iter()
                .filter(|(p, _)| p.ends_with(".js") || p.ends_with(".html"))
                .map(|(p, b)| (*p, std::str::from_utf8(b).expect("dashboard text is UTF-8")))
                .collect(),
        )
    }

    /// `from` (a module's path under web/) joined with a relative specifier (`./jobs.js`).
    fn resolve(from: &str, specifier: &str) -> String {
        let mut parts: Vec<&str> = from.split('/').collect();
        parts.pop();
        for seg in specifier.split('/') {
            match seg {
                "." => {}
                ".." => {
                    parts.pop();
                }
                s => parts.push(s),
            }
        }
        parts.join("/")
    }

    /// The `import … from '…'` statements of a module: (the import clause, the specifier).
    fn imports(src: &str) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (i, _) in src.match_indices("import ") {
            if i != 0 && !src[..i].ends_with('\n') {
                continue;
            }
            let statement = &src[i + "import ".len()..];
            let Some(from) = statement.find(" from ") else { continue };
            let rest = statement[from + " from ".len()..].trim_start();
            let quote = rest.chars().next().expect("a specifier");
            let end = rest[1..].find(quote).expect("a closed specifier");
            out.push((statement[..from].trim().to_string(), rest[1..=end].to_string()));
        }
        out
    }

    /// The names a module exports (`export function|const|let|class NAME`).
    fn exports(src: &str) -> BTreeSet<String> {
        src.lines()
            .filter_map(|l| l.strip_prefix("export "))
            .filter_map(|l| {
                let l = l.strip_prefix("async ").unwrap_or(l);
                let l = ["function ", "const ", "let ", "class "].iter().find_map(|k| l.strip_prefix(k))?;
                let name: String = l.chars().take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '$').collect();
                Some(name)
            })
            .collect()
    }

    /// The module without its comments and imports (which name files, e.g. "live.js").
    fn code(src: &str) -> String {
        src.lines()
            .filter(|l| !["//", "/*", "*", "import "].iter().any(|c| l.trim_start().starts_with(c)))
            .map(|l| l.split_once(" // ").map_or(l, |(code, _)| code))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Every `alias.name` a module reads from a namespace import `* as alias`.
    fn namespace_uses(src: &str, alias: &str) -> BTreeSet<String> {
        let src = code(src);
        let needle = format!("{alias}.");
        src.match_indices(&needle)
            .filter(|(i, _)| *i == 0 || !src[..*i].ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == '.'))
            .map(|(i, _)| {
                src[i + needle.len()..].chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect::<String>()
            })
            .filter(|name| !name.is_empty()) // "… one output format." in a message
            .collect()
    }

    #[test]
    fn the_page_loads_one_entry_module_and_every_import_names_an_embedded_module_and_one_of_its_exports() {
        let Some(files) = embedded() else { return };
        let page = files["index.html"];
        let tag = r#"<script type="module" src="/assets/"#;
        let at = page.find(tag).expect("index.html loads its script with <script type=\"module\" src=\"/assets/…\">");
        let entry = &page[at + tag.len()..];
        let entry = &entry[..entry.find('"').unwrap()];
        assert!(files.contains_key(entry), "the entry module {entry} is embedded");
        assert_eq!(page.matches("<script").count(), 1, "one script tag: the rest are imports");

        let mut reached = BTreeSet::from([entry.to_string()]);
        let mut todo = vec![entry.to_string()];
        while let Some(module) = todo.pop() {
            let src = files[module.as_str()];
            for (clause, specifier) in imports(src) {
                assert!(
                    specifier.starts_with("./") || specifier.starts_with("../"),
                    "{module}: relative import {specifier}"
                );
                let target = resolve(&module, &specifier);
                let Some(target_src) = files.get(target.as_str()) else {
                    panic!("{module} imports {specifier}, which is not embedded as {target}")
                };
                let exported = exports(target_src);
                let wanted: BTreeSet<String> = if let Some(alias) = clause.strip_prefix("* as ") {
                    namespace_uses(src, alias.trim())
                } else {
                    let names = clause.trim_start_matches('{').trim_end_matches('}');
                    names
                        .split(',')
                        .map(|n| n.split(" as ").next().unwrap().trim().to_string())
                        .filter(|n| !n.is_empty())
                        .collect()
                };
                assert!(!wanted.is_empty(), "{module}: imports nothing from {specifier}");
                for name in &wanted {
                    assert!(
                        exported.contains(name),
                        "{module} imports {name} from {target}, which exports {exported:?}"
                    );
                }
                if reached.insert(target.clone()) {
                    todo.push(target);
                }
            }
        }
        let modules: BTreeSet<String> = files.keys().filter(|p| p.ends_with(".js")).map(|p| p.to_string()).collect();
        assert_eq!(reached, modules, "every embedded module is imported from the entry (none left over)");
    }

    #[test]
    fn no_dashboard_module_puts_anything_on_the_global_object() {
        let Some(files) = embedded() else { return };
        for (path, src) in files.iter().filter(|(p, _)| p.ends_with(".js")) {
            let src = code(src);
            for global in ["window.", "globalThis.", "self."] {
                for (i, _) in src.match_indices(global) {
                    let after = &src[i + global.len()..];
                    let name_end = after.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(after.len());
                    let rest = after[name_end..].trim_start();
                    let assigns = rest.starts_with('=') && !rest.starts_with("==");
                    assert!(
                        !assigns,
                        "{path} assigns {global}{}: modules share only what they export",
                        &after[..name_end]
                    );
                }
            }
        }
    }

    #[tokio::test]
    async fn every_dashboard_module_is_served_as_javascript() {
        let Some(files) = embedded() else { return };
        for path in files.keys().filter(|p| p.ends_with(".js")) {
            let resp = asset(Path(path.to_string())).await;
            assert_eq!(resp.status(), StatusCode::OK, "{path}");
            assert_eq!(resp.headers()[CONTENT_TYPE], "text/javascript; charset=utf-8", "{path}");
            assert_eq!(resp.headers()["x-content-type-options"], "nosniff", "{path}");
        }
        assert_eq!(asset(Path("js/../index.html".to_string())).await.status(), StatusCode::NOT_FOUND);
    }
}
