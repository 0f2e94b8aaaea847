//! Rules a test can pin about the workspace's own sources, read from the
//! files (no parser: the code is rustfmt-formatted, and each rule's reader
//! has a test of its own). Used by the crates' tests only.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// `a/b.rs` and `a/b/mod.rs` -> `a::b`; `lib.rs` -> `` (the crate root).
pub fn module_of(rel: &Path) -> String {
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

pub fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
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
pub fn live_code(text: &str) -> &str {
    if text.contains("#![cfg(test)]") {
        return "";
    }
    text.find("#[cfg(test)]").map_or(text, |at| &text[..at])
}

/// Every path the code names: `use` trees flattened, and inline
/// `a::b::c` paths.
pub fn paths(code: &str) -> Vec<Vec<String>> {
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
pub fn target(here: &str, path: &[String], known: &BTreeSet<String>) -> Option<String> {
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

/// The module graph of a crate's `src/`: each module and the modules of
/// the same crate its live (non-test) code names.
pub fn module_graph(root: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let root = root.to_path_buf();
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
pub fn cycle(g: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
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

/// Every group of modules that reach each other (the strongly connected
/// components of more than one module), each sorted: all the cycles at
/// once, so one run names every knot to untie.
pub fn knots(g: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    // Tarjan's algorithm, iterative over the small graphs of one crate.
    struct State<'a> {
        g: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        on_stack: BTreeSet<&'a str>,
        stack: Vec<&'a str>,
        next: usize,
        out: Vec<Vec<String>>,
    }
    fn connect<'a>(st: &mut State<'a>, v: &'a str) {
        st.index.insert(v, st.next);
        st.low.insert(v, st.next);
        st.next += 1;
        st.stack.push(v);
        st.on_stack.insert(v);
        let g = st.g;
        for w in g.get(v).into_iter().flatten() {
            let w = w.as_str();
            if !st.index.contains_key(w) {
                connect(st, w);
                let lw = st.low[w];
                let lv = st.low.get_mut(v).expect("visited");
                *lv = (*lv).min(lw);
            } else if st.on_stack.contains(w) {
                let iw = st.index[w];
                let lv = st.low.get_mut(v).expect("visited");
                *lv = (*lv).min(iw);
            }
        }
        if st.low[v] == st.index[v] {
            let mut comp = Vec::new();
            while let Some(w) = st.stack.pop() {
                st.on_stack.remove(w);
                comp.push(w.to_string());
                if w == v {
                    break;
                }
            }
            if comp.len() > 1 {
                comp.sort();
                st.out.push(comp);
            }
        }
    }
    let mut st = State {
        g,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        on_stack: BTreeSet::new(),
        stack: Vec::new(),
        next: 0,
        out: Vec::new(),
    };
    for v in g.keys() {
        if !st.index.contains_key(v.as_str()) {
            connect(&mut st, v);
        }
    }
    st.out.sort();
    st.out
}

/// `g` less each module's edges to its own descendants: a folder's
/// `mod.rs` declaring, re-exporting and composing its children is the
/// folder's index, not a dependency that can close a cycle. Edges from a
/// child to its parent and between siblings stay.
pub fn without_containment(
    g: &BTreeMap<String, BTreeSet<String>>,
) -> BTreeMap<String, BTreeSet<String>> {
    g.iter()
        .map(|(m, edges)| {
            let kept = edges
                .iter()
                .filter(|t| !t.starts_with(&format!("{m}::")))
                .cloned()
                .collect();
            (m.clone(), kept)
        })
        .collect()
}

/// A line of live code whose function returns an error of type `String`
/// (`Result<T, String>`): file, 1-based line, the line.
pub fn string_error_results(dir: &Path) -> Vec<(PathBuf, usize, String)> {
    let mut files = Vec::new();
    rust_files(dir, &mut files);
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap_or_default();
        for (n, line) in live_code(&text).lines().enumerate() {
            if !line.trim_start().starts_with("//") && has_string_error(line) {
                out.push((f.clone(), n + 1, line.trim().to_string()));
            }
        }
    }
    out
}

/// `Result<A, String>` anywhere in `line`, `A` itself possibly generic.
pub fn has_string_error(line: &str) -> bool {
    let mut rest = line;
    while let Some(at) = rest.find("Result<") {
        let before = rest[..at].chars().last();
        let args = &rest[at + "Result<".len()..];
        rest = args;
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let (mut depth, mut comma) = (0i32, None);
        let mut end = args.len();
        for (k, c) in args.char_indices() {
            match c {
                '<' | '(' | '[' => depth += 1,
                '>' | ')' | ']' if depth == 0 => {
                    end = k;
                    break;
                }
                '>' | ')' | ']' => depth -= 1,
                ',' if depth == 0 => comma = Some(k),
                _ => {}
            }
        }
        if let Some(c) = comma {
            let err = args[c + 1..end].trim();
            if err == "String" || err == "std::string::String" {
                return true;
            }
        }
    }
    false
}

/// Files under `dir` longer than `max` lines, with their length.
pub fn long_files(dir: &Path, max: usize) -> Vec<(PathBuf, usize)> {
    let mut files = Vec::new();
    rust_files(dir, &mut files);
    files.sort();
    files
        .into_iter()
        .filter_map(|f| {
            let n = std::fs::read_to_string(&f).ok()?.lines().count();
            (n > max).then_some((f, n))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn a_parent_using_its_children_is_no_cycle_but_siblings_are() {
        let g: BTreeMap<String, BTreeSet<String>> = [
            ("spec", vec!["spec::error"]),
            ("spec::error", vec!["spec"]),
            ("a", vec!["b"]),
            ("b", vec!["a"]),
        ]
        .into_iter()
        .map(|(m, e)| (m.to_string(), e.into_iter().map(String::from).collect()))
        .collect();
        let g = without_containment(&g);
        assert!(g["spec"].is_empty());
        assert_eq!(cycle(&g), Some(vec!["a".into(), "b".into(), "a".into()]));
        assert_eq!(knots(&g), vec![vec!["a".to_string(), "b".to_string()]]);
    }

    #[test]
    fn a_string_error_is_found_however_the_ok_side_is_spelled() {
        for line in [
            "fn f() -> Result<(), String> {",
            "fn f() -> Result<Vec<(u8, u16)>, String> {",
            "    pub stopped: Result<u64, String>,",
            "fn f(x: &Result<Option<String>, String>) {}",
        ] {
            assert!(has_string_error(line), "{line}");
        }
    }

    #[test]
    fn a_typed_error_or_a_string_ok_is_not_a_string_error() {
        for line in [
            "fn f() -> Result<String, RoomError> {",
            "fn f() -> Result<Vec<String>, Error> {",
            "fn f() -> io::Result<String> {",
            "fn f() -> MyResult<(), String> {",
            "fn f() -> Result<(BTreeSet<String>, String), ResolveError> {",
        ] {
            assert!(!has_string_error(line), "{line}");
        }
    }
}
