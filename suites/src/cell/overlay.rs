//! A cell as the cluster sees it: the profile's values plus the chart's
//! test overlay (`suites/overlays/<chart>.yaml`).

use std::path::PathBuf;
use std::sync::Arc;

use super::Cell;

/// The overlay and Secrets list a chart's cluster cells use.
pub fn overlay(chart: &str) -> (Option<PathBuf>, Option<PathBuf>) {
    let dir = crate::env::root().join("suites/overlays");
    let o = dir.join(format!("{chart}.yaml"));
    let s = dir.join(format!("{chart}.secrets.yaml"));
    (o.is_file().then_some(o), s.is_file().then_some(s))
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
