//! Upgrade cells' own trials: a refused upgrade found from the two renders
//! before the cluster is touched, and the data written before the upgrade.

use std::sync::Arc;

use vitals_checks::runtime::persistence;
use vitals_checks::{Evidence, Manifests, Verdict};
use vitals_helm::Helm;

use super::{rt, Plan};
use crate::cell::state::{CellState, Marker};
use crate::cell::{Cell, Check};

/// Every cluster-tier check of one cell, derived from its rendered manifests.
/// An upgrade that changes immutable StatefulSet fields cannot apply: say
/// which fields from the two renders, before touching the cluster. The suite
/// spec may declare it expected (`refusedUpgrades`); then this is the pass.
pub(super) fn refused_upgrade(
    helm: &Helm,
    cell: &Cell,
    up: &crate::upgrade::UpgradeFrom,
    to: &Manifests,
) -> Option<Check> {
    let mut from_cell = Cell::new(
        Arc::new(crate::spec::Suite {
            chart_dir: up.chart_dir.clone(),
            ..(*cell.suite).clone()
        }),
        crate::spec::Profile {
            values: up.values.clone(),
            ..cell.profile.clone()
        },
    );
    // Rendered for the same namespace as the upgrade.
    from_cell.upgrade = cell.upgrade.clone();
    let subject = format!(
        "release {} in namespace {}",
        cell.suite.release,
        cell.namespace()
    );
    let from = match super::render_manifests(helm, &from_cell) {
        Ok(m) => m,
        Err(e) => {
            return Some(Check::ready(
                "cluster/install",
                Verdict::fail(
                    subject,
                    format!("{} renders", up.label),
                    vitals_checks::runtime::chain(&e),
                ),
            ))
        }
    };
    let changes = crate::upgrade::immutable_changes(&from, to);
    let declared = cell.suite.refused_upgrades.get(&cell.profile.name);
    let expected = format!("{} upgrades in place to this chart and values", up.label);
    match (changes.is_empty(), declared) {
        (true, None) => None,
        (true, Some(why)) => Some(Check::ready(
            "cluster/install",
            Verdict::fail(
                subject,
                format!("refused, as the suite spec declares: {why}"),
                "the upgrade changes no immutable field any more",
            )
            .with_hint(format!(
                "remove `refusedUpgrades.{}` from the suite spec",
                cell.profile.name
            )),
        )),
        (false, Some(why)) => Some(Check::ready(
            "cluster/install",
            Verdict::pass(
                subject,
                format!("refused, as the suite spec declares: {why}"),
                format!("refused: {}", changes.join("; ")),
            ),
        )),
        (false, None) => {
            let mut v = Verdict::fail(
                subject,
                expected,
                format!(
                    "the API server would refuse it: {} immutable StatefulSet field(s) change",
                    changes.len()
                ),
            );
            for c in &changes {
                v = v.with_evidence(Evidence::Note { text: c.clone() });
            }
            Some(Check::ready(
                "cluster/install",
                v.with_hint("keep StatefulSet selectors and volumeClaimTemplates stable across versions and profiles (resize claims by hand, then recreate the StatefulSet with --cascade=orphan), or declare the refusal under `refusedUpgrades` in the suite spec"),
            ))
        }
    }
}

/// `cluster/data-kept/<statefulset>` (reported under `upgrade/`): the
/// marker written before the upgrade is still on its claim.
pub(super) fn data_kept(p: &mut Plan, manifests: &Manifests, cell: &Cell) {
    if let Some(up) = &cell.upgrade {
        for st in persistence::derive(manifests) {
            let label = up.label.clone();
            p.add(
                format!("cluster/data-kept/{}", st.statefulset),
                Box::new(move |env, inst, _| {
                    let subject = format!("StatefulSet/{}", st.statefulset);
                    let expected = format!(
                        "a marker written to {} under {label} is still there after the upgrade",
                        st.mount
                    );
                    let state = CellState::of(&inst.namespace);
                    let file = state.path(crate::cell::state::CellFile::Markers);
                    let markers = state.markers();
                    let marker = match markers.get(&st.statefulset) {
                        Some(Marker::Written(m)) => m.clone(),
                        Some(Marker::NotWritten(e)) => {
                            return Verdict::fail(
                                &subject,
                                expected,
                                format!("no marker was written: {e}"),
                            )
                        }
                        None => {
                            return Verdict::fail(
                                &subject,
                                expected,
                                format!("no marker recorded in {}", file.display()),
                            )
                        }
                    };
                    let read = rt().block_on(persistence::read_marker(
                        &env.client,
                        &inst.namespace,
                        &st,
                        persistence::UPGRADE_MARKER,
                        false,
                    ));
                    persistence::judge_marker(
                        &subject,
                        expected,
                        &marker,
                        read,
                        |w| format!("after the upgrade: {w}"),
                        &st.claim,
                    )
                }),
            );
        }
    }
}
