//! `cargo test -p e2e` (and `cargo nextest run -p e2e`): every chart x
//! profile x tier as named trials, `<chart>/<profile>/<tier>/<check>/<object>`.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use e2e::env::{self, Tier};
use e2e::events::{self, RunEvent};
use e2e::render::{self, Cell};
use e2e::{fixtures, spec, stages};
use libtest_mimic::{Arguments, Completion, Failed, Trial};
use vitals_checks::record::TrialRecord;
use vitals_checks::{Outcome, Verdict};

/// A setup error (bad spec, unknown tier) is not a failed check: it is
/// printed with its causes, no backtrace, and exits 2.
fn setup_error(e: &dyn std::error::Error) -> ExitCode {
    eprintln!("error: {e}");
    let mut src = e.source();
    while let Some(s) = src {
        eprintln!("  caused by: {s}");
        src = s.source();
    }
    ExitCode::from(2)
}

/// Whether libtest-mimic will run a trial of this name, by its own rules
/// (substring filter or `--exact`, `--skip`): the stage barrier counts only
/// trials that run.
fn selected(args: &Arguments, name: &str) -> bool {
    let hit = |f: &String| {
        if args.exact {
            name == f
        } else {
            name.contains(f.as_str())
        }
    };
    args.filter.as_ref().is_none_or(hit) && !args.skip.iter().any(hit) && !args.ignored
}

/// Whether a trial of this name runs in this invocation: selected, and not
/// ignored (unless `--include-ignored` or `--ignored` asks for those).
fn will_run(args: &Arguments, name: &str, ignored: bool) -> bool {
    let hit = |f: &String| {
        if args.exact {
            name == f
        } else {
            name.contains(f.as_str())
        }
    };
    let filtered = args.filter.as_ref().is_none_or(hit) && !args.skip.iter().any(hit);
    filtered
        && if ignored {
            args.ignored || args.include_ignored
        } else {
            !args.ignored
        }
}

/// A verdict as libtest sees it: a skip is "ignored" with its reason, never "ok".
fn completion(v: &Verdict) -> Result<Completion, Failed> {
    match &v.outcome {
        Outcome::Fail => Err(Failed::from(v.to_string())),
        Outcome::Skip(why) => Ok(Completion::ignored_with(why)),
        // Neither ok nor failed: libtest's nearest word, with the reason.
        Outcome::Waived(why) => Ok(Completion::ignored_with(format!("waived: {why}"))),
        _ => Ok(Completion::Completed),
    }
}

fn trial_from_verdict(
    args: &Arguments,
    name: String,
    cell: &Cell,
    tier: &str,
    check: Arc<render::Check>,
) -> (usize, Trial) {
    let (chart, profile) = (cell.suite.name.clone(), cell.profile.name.clone());
    // Stages order the trials of one install: a cell's cluster and upgrade
    // trials are two installs.
    let prefix = format!("{}/{tier}", cell.prefix());
    let stage = check.stage;
    let ignored = check.ignored.is_some();
    // Only trials that will run hold a later stage up: an ignored one never
    // reports done.
    if will_run(args, &name, ignored) && !args.list {
        stages::register(&prefix, stage);
    }
    let tier = tier.to_string();
    let on_cluster = tier != "render";
    let cell = cell.clone();
    // Under nextest the stages of a cluster install also exclude each other
    // across processes (see stages::hold_across_processes).
    let lock_ns = on_cluster.then(|| cell.namespace());
    let trial = Trial::ignorable_test(name.clone(), move || {
        let start = Instant::now();
        events::emit(RunEvent::TrialStarted { name: &name });
        let ready = stages::wait_for_earlier(&prefix, stage, STAGE_DEADLINE).and_then(|()| {
            lock_ns.as_deref().map_or(Ok(None), |ns| {
                stages::hold_across_processes(ns, stage, STAGE_DEADLINE)
            })
        });
        let v: Verdict = match ready {
            Ok(_held) => (check.run)(),
            Err(e) => Verdict::fail(
                &name,
                "the cell's earlier trials to finish first",
                e.to_string(),
            ),
        };
        let last = stages::done(&prefix, stage);
        if last && on_cluster {
            // Frees the cell's room on the nodes for the cells queued behind it.
            e2e::cluster::finished(&cell);
        }
        let rest = check.name.splitn(3, '/').collect::<Vec<_>>();
        let record = TrialRecord {
            run: env::run_id(),
            name: name.clone(),
            chart,
            profile,
            tier,
            check: rest.get(1).unwrap_or(&"").to_string(),
            object: rest.get(2).unwrap_or(&"").to_string(),
            duration_ms: start.elapsed().as_millis() as u64,
            verdict: v.clone(),
            k8s: on_cluster.then(env::k8s_minor),
        };
        events::emit(RunEvent::TrialFinished { record: &record });
        completion(&v)
    })
    .with_ignored_flag(ignored);
    (stage, trial)
}

/// An ignored trial does not run, so it records its skip (with the
/// reason) when the run starts: results.jsonl, the report and JUnit list
/// it as skipped, and the release gate can refuse it.
fn ignored_record(args: &Arguments, name: &str, cell: &Cell, tier: &str, check: &render::Check) {
    // Listed only when the filter selects it (and it is not run anyway).
    if !selected(args, name) || will_run(args, name, true) {
        return;
    }
    let rest = check.name.splitn(3, '/').collect::<Vec<_>>();
    let why = check.ignored.clone().unwrap_or_default();
    let record = TrialRecord {
        run: env::run_id(),
        name: name.to_string(),
        chart: cell.suite.name.clone(),
        profile: cell.profile.name.clone(),
        tier: tier.to_string(),
        check: rest.get(1).unwrap_or(&"").to_string(),
        object: rest.get(2).unwrap_or(&"").to_string(),
        duration_ms: 0,
        verdict: Verdict::skip(cell.prefix(), why),
        k8s: (tier != "render").then(env::k8s_minor),
    };
    events::emit(RunEvent::TrialIgnored { record: &record });
}

/// Longer than any single trial's own deadline (an HPA's way down included).
const STAGE_DEADLINE: std::time::Duration = std::time::Duration::from_secs(30 * 60);

fn main() -> ExitCode {
    let mut args = Arguments::from_args();
    let tiers = match env::tiers() {
        Ok(t) => t,
        Err(e) => return setup_error(&e),
    };
    let suites = match spec::from_env() {
        Some(Ok(s)) => vec![s],
        Some(Err(e)) => return setup_error(&e),
        None => match spec::discover(&env::root().join("suites/specs")) {
            Ok(s) => s,
            Err(e) => return setup_error(&e),
        },
    };
    // A user's chart (E2E_CHART) runs its own trials only, and the render
    // tier unless E2E_TIERS says otherwise: no harness fixtures, no cluster.
    let harness = !suites.iter().any(|s| s.user);
    let tiers = if harness || std::env::var_os("E2E_TIERS").is_some() {
        tiers
    } else {
        vec![Tier::Unit, Tier::Render]
    };
    let helm = Arc::new(env::helm());
    // Cluster trials mostly wait on watches; with one thread per core, two
    // cells would install at a time and the rest would queue behind them.
    let on_cluster = tiers.contains(&Tier::Cluster)
        || tiers.contains(&Tier::Upgrade)
        || tiers.contains(&Tier::Availability);
    let mut trials = Vec::new();
    let mut staged: Vec<(usize, Trial)> = Vec::new();

    if tiers.contains(&Tier::Unit) {
        for s in &suites {
            let label = s
                .spec_file
                .as_ref()
                .map(|f| f.display().to_string())
                .unwrap_or_else(|| "E2E_CHART".into());
            let profiles: Vec<_> = s.profiles.iter().map(|p| p.name.clone()).collect();
            trials.push(Trial::test(
                format!("{}/-/unit/spec/loads", s.name),
                move || {
                    // Loading already happened (a bad spec stops the run); this
                    // records what it resolved to.
                    if profiles.is_empty() {
                        Err(format!("{label}: no profiles").into())
                    } else {
                        Ok(())
                    }
                },
            ));
        }
        for path in fixtures::broken().into_iter().filter(|_| harness) {
            let name = fixtures::name(&path);
            trials.push(Trial::test(
                format!("harness/-/unit/fixture-parses/{name}"),
                move || fixtures::load(&path).map(drop).map_err(Failed::from),
            ));
        }
    }

    if tiers.contains(&Tier::Render) || on_cluster {
        for s in suites.clone() {
            let suite = Arc::new(s);
            // Values documentation is a property of the chart, not a profile:
            // the chart's values.yaml and each directory subchart's.
            for (label, file) in e2e::render::values_files(&suite.chart_dir, "values")
                .into_iter()
                .filter(|_| tiers.contains(&Tier::Render))
            {
                let name = format!("{}/-/render/docs/{label}", suite.name);
                trials.push(Trial::test(name, move || {
                    let v = vitals_checks::render::docs::check(&file);
                    if v.failed() {
                        Err(Failed::from(v.to_string()))
                    } else {
                        Ok(())
                    }
                }));
            }
            for p in &suite.profiles {
                let cell = Cell::new(suite.clone(), p.clone());
                // Under nextest a process runs one trial (`--exact`): only
                // that trial's cell and tier are derived.
                let exact = args.filter.as_deref().filter(|_| args.exact);
                let Some(tiers) = e2e::discovery::cell_tiers(exact, &cell.prefix(), &tiers) else {
                    continue;
                };
                if tiers.contains(&Tier::Render) {
                    for check in render::checks(&helm, &cell) {
                        let check = Arc::new(check);
                        let name = format!("{}/{}", cell.prefix(), check.name);
                        staged.push(trial_from_verdict(&args, name, &cell, "render", check));
                    }
                }
                if tiers.contains(&Tier::Cluster) {
                    let mut left_out = false;
                    for check in e2e::cluster::checks(&helm, &cell) {
                        let check = Arc::new(check);
                        let name = format!("{}/{}", cell.prefix(), check.name);
                        if check.ignored.is_some() {
                            // Never runs in any run: the cell is whole without it.
                            if !args.list {
                                ignored_record(&args, &name, &cell, "cluster", &check);
                            }
                        } else if selected(&args, &name) && !args.list {
                            // The pool lets the announced cells with the
                            // most work go first.
                            e2e::capacity::expect_planned(&cell.namespace());
                        } else {
                            left_out = true;
                        }
                        staged.push(trial_from_verdict(&args, name, &cell, "cluster", check));
                    }
                    if left_out {
                        // A cell run in part is not timed for the next
                        // run's order.
                        e2e::capacity::partial(&cell.namespace());
                    }
                }
                if tiers.contains(&Tier::Upgrade) {
                    let mut up_cell = cell.clone();
                    let checks = match e2e::upgrade::cell_for(&cell) {
                        Ok(up) => {
                            let checks = e2e::cluster::checks(&helm, &up);
                            up_cell = up;
                            checks
                        }
                        // Nothing to start from: the trial cannot run, and is
                        // listed as ignored with why (never as passed); a
                        // start that cannot be prepared is a failure.
                        Err(e2e::upgrade::NoUpgrade::NoRelease(why)) => {
                            vec![render::Check::cannot_run(
                                "upgrade/install",
                                cell.prefix(),
                                why,
                            )]
                        }
                        Err(e2e::upgrade::NoUpgrade::Broken(why)) => vec![render::Check::ready(
                            "upgrade/install",
                            Verdict::fail(
                                cell.prefix(),
                                "the release to upgrade from can be prepared",
                                why.to_string(),
                            ),
                        )],
                    };
                    for check in checks {
                        let check = Arc::new(check);
                        let name = format!("{}/{}", cell.prefix(), check.name);
                        if check.ignored.is_some() && !args.list {
                            ignored_record(&args, &name, &up_cell, "upgrade", &check);
                        }
                        staged.push(trial_from_verdict(&args, name, &up_cell, "upgrade", check));
                    }
                }
                if tiers.contains(&Tier::Availability) {
                    for check in e2e::availability::checks(&helm, &cell) {
                        let check = Arc::new(check);
                        let name = format!("{}/{}", cell.prefix(), check.name);
                        let tier = e2e::availability::TIER;
                        staged.push(trial_from_verdict(&args, name, &cell, tier, check));
                    }
                }
            }
        }
        let h = helm.clone();
        if harness {
            trials.push(Trial::test(
                "harness/-/render/passes/clean-sample",
                move || fixtures::clean_sample_passes(&h).map_err(Failed::from),
            ));
        }
        for path in fixtures::broken().into_iter().filter(|_| harness) {
            let name = fixtures::name(&path);
            let h = helm.clone();
            trials.push(Trial::test(
                format!("harness/-/render/catches/{name}"),
                move || fixtures::caught(&h, &path).map_err(Failed::from),
            ));
        }
        for (name, judge) in e2e::render::negatives::harness(&helm)
            .into_iter()
            .filter(|_| harness)
        {
            trials.push(Trial::test(name, move || judge().map_err(Failed::from)));
        }
    }

    // A waiver that matched no trial is a typo or a stale entry: an error
    // naming its file (known only once every cell's checks are derived).
    if tiers.contains(&Tier::Render) && args.filter.is_none() {
        let unused = e2e::render::unused_waivers(&suites);
        if let Some((last, rest)) = unused.split_last() {
            for e in rest {
                eprintln!("error: {e}");
            }
            return setup_error(last);
        }
    }

    let mut cluster_fixtures = Vec::new();
    if harness && tiers.contains(&Tier::Cluster) {
        for path in fixtures::broken_cluster() {
            let name = fixtures::name(&path);
            let h = helm.clone();
            cluster_fixtures.push(Trial::test(
                format!("harness/-/cluster/catches/{name}"),
                move || fixtures::caught_on_cluster(&h, &path).map_err(Failed::from),
            ));
        }
    }
    if harness && tiers.contains(&Tier::Availability) {
        let h = helm.clone();
        cluster_fixtures.push(Trial::test(
            "harness/-/availability/passes/clean-sample",
            move || e2e::availability::clean_sample_passes(&h).map_err(Failed::from),
        ));
        for path in e2e::availability::fixtures() {
            let name = fixtures::name(&path);
            let h = helm.clone();
            cluster_fixtures.push(Trial::test(
                format!("harness/-/availability/catches/{name}"),
                move || e2e::availability::caught(&h, &path).map_err(Failed::from),
            ));
        }
    }
    // Stage by stage (a stable sort keeps each cell's order): see `stages`.
    staged.sort_by_key(|(stage, _)| *stage);
    // The display counts the chart trials (each reports when it ends).
    let total = staged
        .iter()
        .filter(|(_, t)| will_run(&args, t.name(), t.has_ignored_flag()))
        .count();
    trials.extend(staged.into_iter().map(|(_, t)| t));
    trials.extend(cluster_fixtures);
    if !args.list {
        let exact = args.filter.as_deref().filter(|_| args.exact);
        if let Err(e) = e2e::discovery::check_found(exact, trials.iter().map(Trial::name)) {
            return setup_error(&e);
        }
    }
    // On a cluster every trial gets a thread: most wait (for a stage, for
    // their cell's room on the nodes) and must not hold up the trials they
    // wait for. `E2E_PARALLEL` bounds the judges that actually run.
    if on_cluster && args.test_threads.is_none() {
        args.test_threads = Some(trials.len().max(1));
    }
    if !args.list {
        events::emit(RunEvent::RunStarted { total });
    }
    let conclusion = libtest_mimic::run(&args, trials);
    if !args.list {
        // Clears the display and writes this process's JUnit.
        events::emit(RunEvent::RunFinished);
    }
    if on_cluster && !args.list {
        e2e::cluster::cleanup();
    }
    conclusion.exit_code()
}
