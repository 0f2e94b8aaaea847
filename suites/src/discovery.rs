//! What one trial process has to derive. Under nextest every trial is its
//! own process, started as `e2e --exact <name>`: listing every chart x
//! profile x tier there would render, parse and derive the whole matrix for
//! one trial. The name says which cell and which tier it belongs to
//! (`<chart>/<profile>/<tier>/...`), so the runner derives that cell's
//! tier only. Renders themselves are cached on disk by their inputs
//! (`render::render`: chart files, values, release, namespace, helm
//! version), so a warm process reads one file instead of running helm.

use crate::env::Tier;

/// The tiers to derive for the cell `cell` (`medplum/dev`), or `None` to
/// skip the cell. `exact` is the filter when the run names one trial
/// exactly (nextest, or `--exact`); any other run derives every tier of
/// every cell, since a substring filter may match trials of any of them.
pub fn cell_tiers(exact: Option<&str>, cell: &str, tiers: &[Tier]) -> Option<Vec<Tier>> {
    let Some(name) = exact else {
        return Some(tiers.to_vec());
    };
    let rest = name.strip_prefix(cell)?.strip_prefix('/')?;
    let tier = rest.split('/').next().unwrap_or_default();
    let wanted: Vec<Tier> = tiers.iter().copied().filter(|t| t.name() == tier).collect();
    // A name whose tier segment is no tier (it cannot be this cell's trial).
    (!wanted.is_empty()).then_some(wanted)
}

/// A trial process asked for a trial its discovery no longer finds: the
/// list nextest took is older than the charts, specs or tags the process
/// sees. An error, never an empty pass.
#[derive(Debug, thiserror::Error)]
#[error("no trial `{name}` in this run (the trial list is older than the charts, specs or git tags)\n(hint: run again, so nextest lists the trials afresh)")]
pub struct NotFound {
    pub name: String,
}

/// `Err` when `exact` names no trial of `names`. Only under nextest, which
/// names trials from its own list; a `cargo test -- --exact <unit test>`
/// passes the same filter to every test binary, this one included.
pub fn check_found<'a>(
    exact: Option<&str>,
    names: impl IntoIterator<Item = &'a str>,
) -> Result<(), NotFound> {
    match exact {
        Some(name) if crate::env::process_per_trial() && !names.into_iter().any(|n| n == name) => {
            Err(NotFound { name: name.into() })
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Tier; 4] = [Tier::Unit, Tier::Render, Tier::Cluster, Tier::Upgrade];

    #[test]
    fn an_exact_name_derives_its_own_cell_and_tier_only() {
        let name = Some("medplum/dev/cluster/probe/medplum-server/server/readiness");
        assert_eq!(
            cell_tiers(name, "medplum/dev", &ALL),
            Some(vec![Tier::Cluster])
        );
        assert_eq!(cell_tiers(name, "medplum/prod", &ALL), None);
        // A chart whose name extends another's is another chart.
        assert_eq!(cell_tiers(name, "medplum/de", &ALL), None);
        let render = Some("medplum/dev/render/openapi@1.36/role/medplum-server");
        assert_eq!(
            cell_tiers(render, "medplum/dev", &ALL),
            Some(vec![Tier::Render])
        );
        // A tier the run does not include derives nothing.
        assert_eq!(cell_tiers(render, "medplum/dev", &[Tier::Cluster]), None);
    }

    #[test]
    fn without_an_exact_name_every_tier_of_every_cell() {
        assert_eq!(cell_tiers(None, "medplum/dev", &ALL), Some(ALL.to_vec()));
    }
}
