//! A cell as the cluster sees it: the profile's values plus the chart's
//! test overlay.
//!
//! The committed overlay, `suites/overlays/<chart>.yaml.in`, holds only
//! what is stable: resources, replica caps, the agent's arguments. Its
//! image references are placeholders (`@agent.repository@`, `@agent.tag@`,
//! `@agent@`), because the local builds' tags carry a content key
//! (`vitals/<name>:<version>-<key>`, `scripts/images.sh`) that changes
//! with every rebuild. The runner fills them from `$VITALS_CACHE/images.env`
//! into `<E2E_OUT>/overlays/<chart>.<hash>.yaml`, named by its text, so a
//! rebuild mid-run never changes a file another process is installing
//! from. An image with no line there (never built on this machine: a clean
//! CI checkout rendering only) gets a stand-in, `vitals/<name>:unbuilt`:
//! the render tier needs a reference the charts' schemas accept (their
//! tag pattern refuses `@`), not a built image, and the overlay check lets
//! an overlay point images anywhere.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use super::Cell;

/// The tag a reference to an image not built on this machine gets.
pub const UNBUILT_TAG: &str = "unbuilt";

/// The committed template of a chart's overlay.
pub fn template(chart: &str) -> PathBuf {
    dir().join(format!("{chart}.yaml.in"))
}

fn dir() -> PathBuf {
    crate::env::root().join("suites/overlays")
}

/// An overlay template with its placeholders replaced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filled {
    pub text: String,
    /// The images it references that have no built reference (stand-ins).
    pub unbuilt: BTreeSet<String>,
}

/// Replaces every `@name.repository@`, `@name.tag@` and `@name@` of
/// `template` with the built image's reference from `images`
/// (`name=repo:tag`, as `images.env` lists them), or a stand-in
/// (`vitals/<name>`, [`UNBUILT_TAG`]) when `images` has no such name.
/// Anything else between two `@` (an email address in a comment) is left.
pub fn fill(template: &str, images: &BTreeMap<String, String>) -> Filled {
    let mut text = String::with_capacity(template.len());
    let mut unbuilt = BTreeSet::new();
    let mut rest = template;
    while let Some(at) = rest.find('@') {
        text.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let Some((name, part, len)) = placeholder(after) else {
            text.push('@');
            rest = after;
            continue;
        };
        let reference = images.get(name).cloned().unwrap_or_else(|| {
            unbuilt.insert(name.to_string());
            format!("vitals/{name}:{UNBUILT_TAG}")
        });
        let (repo, tag) = reference
            .rsplit_once(':')
            .unwrap_or((reference.as_str(), ""));
        text.push_str(match part {
            Part::Repository => repo,
            Part::Tag => tag,
            Part::Whole => &reference,
        });
        rest = &after[len + 1..];
    }
    text.push_str(rest);
    Filled { text, unbuilt }
}

enum Part {
    Repository,
    Tag,
    Whole,
}

/// `name.repository@...` at the start of `s` (just after an `@`): the
/// image name, which part, and the length up to the closing `@`.
fn placeholder(s: &str) -> Option<(&str, Part, usize)> {
    let len = s.find('@')?;
    let inner = &s[..len];
    let (name, part) = match inner.split_once('.') {
        Some((n, "repository")) => (n, Part::Repository),
        Some((n, "tag")) => (n, Part::Tag),
        Some(_) => return None,
        None => (inner, Part::Whole),
    };
    let is_name = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    is_name.then_some((name, part, len))
}

/// Why a chart's overlay could not be filled.
#[derive(Debug, thiserror::Error)]
pub enum OverlayError {
    #[error("cannot read the overlay template `{}`", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write the filled overlay `{}`", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Fills `template` (a file) from `images` into `out`, named by the
/// chart and a hash of the text. An existing file of that name already
/// holds this text (another process or an earlier run wrote it).
pub fn write_filled(
    chart: &str,
    template: &Path,
    images: &BTreeMap<String, String>,
    out: &Path,
) -> Result<PathBuf, OverlayError> {
    let raw = std::fs::read_to_string(template).map_err(|source| OverlayError::Read {
        path: template.to_path_buf(),
        source,
    })?;
    let filled = fill(&raw, images);
    let name = template
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // Said in the file: the report shows it beside each install.
    let mut text = format!("# Filled by the runner from suites/overlays/{name} and images.env");
    if !filled.unbuilt.is_empty() {
        let names: Vec<&str> = filled.unbuilt.iter().map(String::as_str).collect();
        text.push_str(&format!(
            "; not built here, so `{UNBUILT_TAG}`: {}",
            names.join(", ")
        ));
    }
    text.push('\n');
    text.push_str(&filled.text);
    let mut h = DefaultHasher::new();
    text.hash(&mut h);
    let path = out.join(format!(
        "{chart}.{:012x}.yaml",
        h.finish() & 0xffff_ffff_ffff
    ));
    if !path.is_file() {
        crate::cell::state::write_atomic(&path, &text).map_err(|source| OverlayError::Write {
            path: path.clone(),
            source,
        })?;
    }
    Ok(path)
}

/// Filled overlays of this process, by chart, and the template of each.
fn filled_here() -> &'static Mutex<HashMap<String, Option<PathBuf>>> {
    static F: OnceLock<Mutex<HashMap<String, Option<PathBuf>>>> = OnceLock::new();
    F.get_or_init(Default::default)
}

fn templates() -> &'static Mutex<HashMap<PathBuf, PathBuf>> {
    static T: OnceLock<Mutex<HashMap<PathBuf, PathBuf>>> = OnceLock::new();
    T.get_or_init(Default::default)
}

/// The template a filled overlay was made from (what a person edits).
pub fn template_of(filled: &Path) -> Option<PathBuf> {
    templates().lock().ok()?.get(filled).cloned()
}

/// The chart's filled overlay, made once per process (the images it
/// names do not change under a running trial), or None when the chart has
/// no template.
fn filled_overlay(chart: &str) -> Option<PathBuf> {
    let mut memo = filled_here().lock().unwrap_or_else(|p| p.into_inner());
    if let Some(p) = memo.get(chart) {
        return p.clone();
    }
    let template = template(chart);
    let path = template.is_file().then(|| {
        let images = crate::env::images().1;
        let out = crate::env::out_dir().join("overlays");
        match write_filled(chart, &template, &images, &out) {
            Ok(p) => p,
            Err(e) => {
                // The template itself then goes to helm, whose schema error
                // on `@...@` makes the overlay trial fail, not vanish.
                let mut line = format!("warning: {e}");
                let mut src = std::error::Error::source(&e);
                while let Some(s) = src {
                    line.push_str(&format!(": {s}"));
                    src = s.source();
                }
                eprintln!("{line}");
                template.clone()
            }
        }
    });
    if let (Some(p), Ok(mut t)) = (&path, templates().lock()) {
        t.insert(p.clone(), template);
    }
    memo.insert(chart.to_string(), path.clone());
    path
}

/// The overlay and Secrets list a chart's cluster cells use.
pub fn overlay(chart: &str) -> (Option<PathBuf>, Option<PathBuf>) {
    let s = dir().join(format!("{chart}.secrets.yaml"));
    (filled_overlay(chart), s.is_file().then_some(s))
}

/// A cell as the cluster sees it: the profile's values plus the overlay.
pub fn cluster_cell(cell: &Cell) -> Cell {
    let mut c = cell.clone();
    // The overlays are the five charts' own: a user's chart that shares a
    // name (`medplum`) must not pick one up.
    if cell.suite.user {
        return c;
    }
    if let (Some(o), _) = overlay(&cell.suite.name) {
        c.profile.values.push(o.clone());
        // An earlier revision with an overlay of its own time keeps it:
        // today's may set keys its schema did not know yet.
        if let Some(up) = cell.upgrade.as_ref().filter(|u| !u.carries_overlay()) {
            let mut up = (**up).clone();
            up.values.push(o);
            c.upgrade = Some(Arc::new(up));
        }
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    fn images(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn placeholders_take_the_built_refs_parts() {
        let built = images(&[
            ("agent", "vitals/agent:0.1.0-80dbcecd496f"),
            (
                "minio",
                "vitals/minio:RELEASE.2026-02-12T20-18-48Z-2d64f059d90c",
            ),
        ]);
        let f = fill(
            "a: {repository: \"@agent.repository@\", tag: \"@agent.tag@\"}\nm: @minio@\n",
            &built,
        );
        assert_eq!(
            f.text,
            "a: {repository: \"vitals/agent\", tag: \"0.1.0-80dbcecd496f\"}\n\
             m: vitals/minio:RELEASE.2026-02-12T20-18-48Z-2d64f059d90c\n"
        );
        assert!(f.unbuilt.is_empty());
    }

    #[test]
    fn an_image_never_built_gets_a_stand_in_and_other_ats_stay() {
        let f = fill(
            "# ask ops@example.org @ noon\nr: {repository: \"@redis.repository@\", tag: \"@redis.tag@\"}\n",
            &BTreeMap::new(),
        );
        assert_eq!(
            f.text,
            "# ask ops@example.org @ noon\nr: {repository: \"vitals/redis\", tag: \"unbuilt\"}\n"
        );
        assert_eq!(f.unbuilt, BTreeSet::from(["redis".to_string()]));
    }

    /// What CI's clean checkout renders with: every committed template,
    /// filled with no images at all, is YAML with no placeholder left and
    /// tags the charts' schemas accept (`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`).
    #[test]
    fn every_committed_template_fills_without_any_built_image() {
        let mut seen = 0;
        for e in std::fs::read_dir(dir()).unwrap().flatten() {
            let p = e.path();
            if !p.to_string_lossy().ends_with(".yaml.in") {
                continue;
            }
            seen += 1;
            let f = fill(&std::fs::read_to_string(&p).unwrap(), &BTreeMap::new());
            assert!(
                !f.unbuilt.is_empty(),
                "{}: no image placeholders",
                p.display()
            );
            assert!(
                !f.text.contains(".repository@") && !f.text.contains(".tag@"),
                "{}",
                p.display()
            );
            serde_yaml::from_str::<serde_json::Value>(&f.text)
                .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        }
        assert_eq!(seen, 5, "one template per chart");
    }

    #[test]
    fn the_filled_file_is_named_by_its_text_and_says_what_is_not_built() {
        let dir = tempfile::tempdir().unwrap();
        let t = dir.path().join("c.yaml.in");
        std::fs::write(
            &t,
            "image: {repository: \"@agent.repository@\", tag: \"@agent.tag@\"}\n",
        )
        .unwrap();
        let out = dir.path().join("out");
        let none = write_filled("c", &t, &BTreeMap::new(), &out).unwrap();
        let text = std::fs::read_to_string(&none).unwrap();
        assert!(text.starts_with("# Filled by the runner from suites/overlays/c.yaml.in"));
        assert!(
            text.contains("not built here, so `unbuilt`: agent\n"),
            "{text}"
        );
        let built = images(&[("agent", "vitals/agent:0.1.0-abc")]);
        let one = write_filled("c", &t, &built, &out).unwrap();
        assert_ne!(none, one, "a rebuild is a new file, the old one stays");
        assert!(none.is_file());
        assert_eq!(write_filled("c", &t, &built, &out).unwrap(), one);
        assert!(std::fs::read_to_string(&one)
            .unwrap()
            .ends_with("image: {repository: \"vitals/agent\", tag: \"0.1.0-abc\"}\n"));
        assert!(one.file_name().unwrap().to_string_lossy().starts_with("c."));
    }
}
