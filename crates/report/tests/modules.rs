//! The report's modules depend on each other in one direction only: no
//! cycle (html -> grid -> html, or a section reaching back into the page
//! module that calls it), so each part can be read, tested and split on its
//! own. Read from the sources: every `crate::`, `super::` and child-module
//! path outside test code is an edge.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// `a/b.rs` and `a/b/mod.rs` -> `a::b`; `lib.rs` -> `` (the crate root).
fn module_of(rel: &Path) -> String {
    let mut parts: Vec<String> = rel
        .with_extension("")
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
        parts.pop();
    }
    parts.join("::")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The code of a file that is not test code: up to its `#[cfg(test)]`
/// module; nothing for a file that is test-only (`#![cfg(test)]`).
fn live_code(text: &str) -> &str {
    if text.contains("#![cfg(test)]") {
        return "";
    }
    text.find("#[cfg(test)]").map_or(text, |at| &text[..at])
}

/// Every path the code names: `use` trees flattened, and inline
/// `a::b::c` paths.
fn paths(code: &str) -> Vec<Vec<String>> {
    let code: String = code
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let mut out = Vec::new();
    let mut rest = code.as_str();
    while let Some(at) = rest.find("use ") {
        let before = rest[..at].chars().last();
        let tail = &rest[at + 4..];
        let end = tail.find(';').unwrap_or(tail.len());
        if before.is_none_or(|c| !c.is_alphanumeric() && c != '_') {
            flatten(&tail[..end].replace(char::is_whitespace, ""), &[], &mut out);
        }
        rest = &tail[end..];
    }
    let bytes: Vec<char> = code.chars().collect();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_alphabetic() || bytes[i] == '_' {
            let start = i;
            while i < bytes.len()
                && (bytes[i].is_alphanumeric() || bytes[i] == '_' || bytes[i] == ':')
            {
                i += 1;
            }
            let word: String = bytes[start..i].iter().collect();
            let prev = start.checked_sub(1).map(|k| bytes[k]);
            if word.contains("::") && prev != Some(':') {
                out.push(
                    word.split("::")
                        .filter(|s| !s.is_empty())
                        .map(String::from)
                        .collect(),
                );
            }
        } else {
            i += 1;
        }
    }
    out
}

fn flatten(tree: &str, prefix: &[String], out: &mut Vec<Vec<String>>) {
    if let Some(open) = tree.find('{') {
        let mut base = prefix.to_vec();
        base.extend(
            tree[..open]
                .split("::")
                .filter(|s| !s.is_empty())
                .map(String::from),
        );
        let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
        let (mut depth, mut from) = (0, 0);
        for (k, c) in inner.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    flatten(&inner[from..k], &base, out);
                    from = k + 1;
                }
                _ => {}
            }
        }
        flatten(&inner[from..], &base, out);
    } else if !tree.is_empty() {
        let mut p = prefix.to_vec();
        p.extend(
            tree.split(" as ")
                .next()
                .unwrap_or(tree)
                .split("::")
                .map(String::from),
        );
        out.push(p);
    }
}

/// The module a path reaches, from module `here`, if it is one of `known`.
fn target(here: &str, path: &[String], known: &BTreeSet<String>) -> Option<String> {
    let mut cur: Vec<String> = if here.is_empty() {
        Vec::new()
    } else {
        here.split("::").map(String::from).collect()
    };
    let mut segs = path.iter().peekable();
    match segs.peek().map(|s| s.as_str()) {
        Some("crate") => {
            cur.clear();
            segs.next();
        }
        Some("super") => {
            while segs.peek().map(|s| s.as_str()) == Some("super") {
                cur.pop();
                segs.next();
            }
        }
        Some("self") => {
            segs.next();
        }
        Some(first) => {
            // A child module named without `self::`, or nothing of ours.
            let mut child = cur.clone();
            child.push(first.to_string());
            if !known.contains(&child.join("::")) {
                return None;
            }
        }
        None => return None,
    }
    // The longest prefix that is a module.
    let mut best = cur.join("::");
    for s in segs {
        cur.push(s.clone());
        let m = cur.join("::");
        if known.contains(&m) {
            best = m;
        } else {
            break;
        }
    }
    known.contains(&best).then_some(best)
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let root = src();
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    // main.rs is the binary, a crate of its own over the library.
    files.retain(|f| !f.ends_with("main.rs"));
    let known: BTreeSet<String> = files
        .iter()
        .map(|f| module_of(f.strip_prefix(&root).unwrap()))
        .collect();
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in &files {
        let here = module_of(f.strip_prefix(&root).unwrap());
        let text = std::fs::read_to_string(f).unwrap();
        let edges = g.entry(here.clone()).or_default();
        for p in paths(live_code(&text)) {
            if let Some(t) = target(&here, &p, &known) {
                // The crate root only declares and re-exports.
                if t != here && !t.is_empty() {
                    edges.insert(t);
                }
            }
        }
    }
    g
}

/// A cycle through the graph, if any, as the modules along it.
fn cycle(g: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        n: &str,
        g: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(n.to_string(), 1);
        stack.push(n.to_string());
        for m in g.get(n).into_iter().flatten() {
            match state.get(m).copied().unwrap_or(0) {
                1 => {
                    let at = stack.iter().position(|s| s == m).unwrap_or(0);
                    let mut c = stack[at..].to_vec();
                    c.push(m.clone());
                    return Some(c);
                }
                0 => {
                    if let Some(c) = visit(m, g, state, stack) {
                        return Some(c);
                    }
                }
                _ => {}
            }
        }
        stack.pop();
        state.insert(n.to_string(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for n in g.keys() {
        if state.get(n).copied().unwrap_or(0) == 0 {
            if let Some(c) = visit(n, g, &mut state, &mut Vec::new()) {
                return Some(c);
            }
        }
    }
    None
}

#[test]
fn the_report_modules_have_no_cycle() {
    let g = graph();
    // The reader sees real edges (not an empty graph that passes).
    assert!(g["html"].contains("html::page"), "{g:#?}");
    assert!(g["html::failures"].contains("svg"), "{g:#?}");
    assert!(g["html::charts"].contains("traffic"), "{g:#?}");
    if let Some(c) = cycle(&g) {
        panic!("module cycle: {}\n{g:#?}", c.join(" -> "));
    }
}

#[test]
fn the_reader_finds_a_cycle_through_super_and_crate_paths() {
    let known: BTreeSet<String> = ["a", "a::b", "c"].iter().map(|s| s.to_string()).collect();
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (here, code) in [
        ("a", "use b::X;\nfn f() { crate::c::g(); }"),
        ("a::b", "use super::{Y, Z as W};"),
        ("c", "use std::fmt;"),
    ] {
        let e = g.entry(here.into()).or_default();
        for p in paths(code) {
            if let Some(t) = target(here, &p, &known).filter(|t| t != here) {
                e.insert(t);
            }
        }
    }
    assert_eq!(
        g["a"],
        BTreeSet::from(["a::b".to_string(), "c".to_string()])
    );
    assert_eq!(cycle(&g), Some(vec!["a".into(), "a::b".into(), "a".into()]));
    assert_eq!(
        live_code("fn a() {}\n#[cfg(test)]\nmod tests { use super::*; }"),
        "fn a() {}\n"
    );
}
