//! Where a recorded bundle path is now, and relative links to it.

use std::path::{Component, Path, PathBuf};

/// The path after `diagnostics: ` in a hint, to the end of its line.
pub(super) fn hint_path(hint: &str) -> Option<&str> {
    let at = hint.find("diagnostics: ")? + "diagnostics: ".len();
    let p = hint[at..].lines().next()?.trim();
    (!p.is_empty()).then_some(p)
}

/// Where a recorded bundle path may be now, most literal first.
pub(super) fn resolve(dir: &Path, p: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if p.is_absolute() {
        out.push(p.to_path_buf());
    } else {
        out.push(dir.join(p));
    }
    // Downloaded CI artifacts keep `bundles/<namespace>` under the input
    // directory but not the absolute path of the machine that wrote it.
    let parts: Vec<Component> = p.components().collect();
    if let Some(at) = parts.iter().rposition(|c| c.as_os_str() == "bundles") {
        out.push(dir.join(parts[at..].iter().collect::<PathBuf>()));
    }
    out
}

/// `bundles/<namespace>`: what a person recognises of a bundle path.
pub(super) fn bundle_label(p: &Path) -> String {
    let parts: Vec<Component> = p.components().collect();
    let from = parts
        .iter()
        .rposition(|c| c.as_os_str() == "bundles")
        .unwrap_or(parts.len().saturating_sub(1));
    parts[from..]
        .iter()
        .collect::<PathBuf>()
        .display()
        .to_string()
}

/// A relative URL from directory `from` to `to`, percent-encoded, or `None`
/// when either does not exist.
pub fn relative_href(from: &Path, to: &Path) -> Option<String> {
    let from = from.canonicalize().ok()?;
    let to = to.canonicalize().ok()?;
    let (f, t): (Vec<_>, Vec<_>) = (from.components().collect(), to.components().collect());
    let common = f.iter().zip(&t).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<String> = vec!["..".into(); f.len() - common];
    parts.extend(
        t[common..]
            .iter()
            .map(|c| percent_encode(&c.as_os_str().to_string_lossy())),
    );
    Some(if parts.is_empty() {
        ".".into()
    } else {
        parts.join("/")
    })
}

pub(super) fn percent_encode(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            w!(out, "%{b:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hint_paths_and_relative_hrefs() {
        assert_eq!(hint_path("diagnostics: /a/b c\nmore"), Some("/a/b c"));
        assert_eq!(hint_path("check metrics-server"), None);
        let root = tempfile::tempdir().unwrap();
        let a = root.path().join("x y/a");
        let b = root.path().join("b");
        std::fs::create_dir_all(&a).unwrap();
        std::fs::create_dir_all(&b).unwrap();
        assert_eq!(relative_href(&a, &b).unwrap(), "../../b");
        assert_eq!(relative_href(&b, &a).unwrap(), "../x%20y/a");
        assert_eq!(relative_href(&a, &a).unwrap(), ".");
        assert_eq!(relative_href(&a, &root.path().join("nope")), None);
    }
}
