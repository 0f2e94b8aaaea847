//! `cluster/install`: the release itself, one trial per cell. Its judge is
//! the runner's install phase (`suites/src/cluster/phases/install.rs`:
//! `helm upgrade --install`, hooks included), which every other trial of
//! the cell waits behind; this module says that the trial exists.

use crate::Manifests;

/// The install of the cell's release; its name is the kind's alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallSpec;

impl InstallSpec {
    /// The `<object>` of `cluster/install`: none.
    pub fn name(&self) -> String {
        String::new()
    }
}

/// Every render installs: one trial, whatever the manifests hold (an
/// empty render still has a release whose install can fail).
pub fn derive(_m: &Manifests) -> Vec<InstallSpec> {
    vec![InstallSpec]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_cell_has_exactly_one_install() {
        let empty = Manifests::parse("").unwrap();
        assert_eq!(derive(&empty), vec![InstallSpec]);
        assert_eq!(InstallSpec.name(), "");
    }
}
