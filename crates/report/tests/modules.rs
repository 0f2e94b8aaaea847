//! The report's modules depend on each other in one direction only: no
//! cycle (html -> grid -> html, or a section reaching back into the page
//! module that calls it), so each part can be read, tested and split on its
//! own. Read from the sources (`vitals-source-rules`): every `crate::`,
//! `super::` and child-module path outside test code is an edge.

use std::path::Path;

use vitals_source_rules::{cycle, module_graph};

#[test]
fn the_report_modules_have_no_cycle() {
    let g = module_graph(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    // The reader sees real edges (not an empty graph that passes).
    assert!(g["html"].contains("html::page"), "{g:#?}");
    assert!(g["html::failures"].contains("svg"), "{g:#?}");
    assert!(g["html::charts"].contains("traffic"), "{g:#?}");
    if let Some(c) = cycle(&g) {
        panic!("module cycle: {}\n{g:#?}", c.join(" -> "));
    }
}
