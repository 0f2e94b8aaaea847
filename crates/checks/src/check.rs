//! What names a trial and when it runs within its cell: the typed form of
//! `<tier>/<kind>/<object>` (the part after `<chart>/<profile>/`) and the
//! stage order every cluster-backed tier keeps.

use std::fmt;

/// `cluster/probe/medplum-server/server/readiness`: tier, kind, object
/// (the object may hold further `/`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CheckId {
    pub tier: String,
    pub kind: String,
    pub object: String,
}

impl CheckId {
    pub fn new(tier: &str, kind: &str, object: impl Into<String>) -> CheckId {
        CheckId {
            tier: tier.into(),
            kind: kind.into(),
            object: object.into(),
        }
    }

    /// Splits `tier/kind/object...`; None without a tier and a kind.
    pub fn parse(name: &str) -> Option<CheckId> {
        let mut it = name.splitn(3, '/');
        let tier = it.next().filter(|s| !s.is_empty())?;
        let kind = it.next().filter(|s| !s.is_empty())?;
        Some(CheckId::new(tier, kind, it.next().unwrap_or("")))
    }
}

impl fmt::Display for CheckId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.object.is_empty() {
            write!(f, "{}/{}", self.tier, self.kind)
        } else {
            write!(f, "{}/{}/{}", self.tier, self.kind, self.object)
        }
    }
}

/// When a trial runs among its cell's others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Stage {
    /// Beside the cell's other trials.
    Beside = 0,
    /// Disrupts the cell (deletes a data pod): after every stage-0 trial.
    Disrupts = 1,
    /// Judges the whole run (restart counts): last.
    Whole = 2,
}

impl Stage {
    pub fn index(self) -> usize {
        self as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trial_name_splits_into_tier_kind_and_the_rest_as_object() {
        let id = CheckId::parse("cluster/probe/medplum-server/server/readiness").unwrap();
        assert_eq!(
            id,
            CheckId::new("cluster", "probe", "medplum-server/server/readiness")
        );
        assert_eq!(
            id.to_string(),
            "cluster/probe/medplum-server/server/readiness"
        );
        assert_eq!(
            CheckId::parse("cluster/helm-test").unwrap().to_string(),
            "cluster/helm-test"
        );
        assert_eq!(CheckId::parse("cluster"), None);
    }

    #[test]
    fn stages_order_beside_then_disrupting_then_whole_run() {
        assert!(Stage::Beside < Stage::Disrupts && Stage::Disrupts < Stage::Whole);
        assert_eq!(Stage::Whole.index(), 2);
    }
}
