//! What issue 16 asked of the runner's shape, pinned so it stays: no module
//! cycle in `suites` (siblings, or a child and its parent's users), errors typed (no `Result<_, String>`) in `suites` and
//! in the runtime checks, and files a reader can hold in their head.

use std::path::{Path, PathBuf};

use vitals_source_rules::{
    knots, long_files, module_graph, string_error_results, without_containment,
};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("suites/ sits in the workspace")
        .to_path_buf()
}

/// Past this a file does more than one job (the runner's old cluster.rs
/// was ~1.9k lines); the split that ended it aimed at ~700.
const MAX_LINES: usize = 750;

#[test]
fn the_runner_modules_have_no_cycle() {
    let g = module_graph(&workspace().join("suites/src"));
    // The reader sees real edges (not an empty graph that passes).
    assert!(g["availability::fixtures"].contains("fixtures"), "{g:#?}");
    assert!(g["cluster"].len() > 3, "{g:#?}");
    // A folder's mod.rs using its own children is its index, not a cycle.
    let knots = knots(&without_containment(&g));
    let text: Vec<String> = knots
        .iter()
        .map(|k| {
            let edges: Vec<String> = k
                .iter()
                .flat_map(|m| {
                    g[m].iter()
                        .filter(|t| k.contains(t))
                        .map(move |t| format!("{m} -> {t}"))
                })
                .collect();
            format!("  {{{}}}: {}", k.join(", "), edges.join("; "))
        })
        .collect();
    assert!(
        knots.is_empty(),
        "modules of suites/src that depend on each other (cycles):\n{}",
        text.join("\n")
    );
}

#[test]
fn the_runner_and_the_runtime_checks_return_typed_errors() {
    let mut found = Vec::new();
    for dir in ["suites/src", "crates/checks/src/runtime"] {
        found.extend(string_error_results(&workspace().join(dir)));
    }
    let lines: Vec<String> = found
        .iter()
        .map(|(f, n, l)| format!("{}:{n}: {l}", f.display()))
        .collect();
    assert!(
        lines.is_empty(),
        "an error type of String loses the cause chain; use a thiserror enum:\n{}",
        lines.join("\n")
    );
}

#[test]
fn no_runner_or_checks_file_is_longer_than_a_reader_can_follow() {
    let mut long = Vec::new();
    for dir in ["suites/src", "crates/checks/src"] {
        long.extend(long_files(&workspace().join(dir), MAX_LINES));
    }
    let lines: Vec<String> = long
        .iter()
        .map(|(f, n)| format!("{}: {n} lines", f.display()))
        .collect();
    assert!(
        lines.is_empty(),
        "split these by job (more than {MAX_LINES} lines):\n{}",
        lines.join("\n")
    );
}
