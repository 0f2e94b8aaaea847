//! A schema migration runs before the pods that need the new schema. As a
//! Helm hook that means `pre-upgrade`: Helm runs it, waits for it, then
//! rolls the workloads. A `post-upgrade` hook runs after the new pods are
//! out, so they serve against the old schema for the whole rollout (and a
//! failed migration leaves them there). On install, `post-install` is
//! accepted beside `pre-upgrade`: no old pods serve an old schema yet, and a
//! release that brings its own database cannot migrate before that
//! database exists (the app then waits for the schema, e.g. in an init
//! container). A migration hook with no upgrade hook at all never migrates
//! an upgraded release, and fails too.
//!
//! A migration is a hook Job whose name, labels or command say `migrat`
//! (`migrate`, `migration`, `db:migrate`, `prisma migrate deploy`).

use serde_json::Value;

use super::PolicyCx;
use crate::verdict::{Finding, Verdict};
use crate::Object;

/// Whether a Job's name, labels or command say it migrates a schema.
fn is_migration(job: &Object) -> bool {
    let says = |s: &str| s.to_ascii_lowercase().contains("migrat");
    if says(&job.name) {
        return true;
    }
    let labels = crate::manifest::string_map(job.doc.pointer("/metadata/labels"));
    if labels.values().any(|v| says(v)) {
        return true;
    }
    job.as_workload().is_some_and(|w| {
        w.pod_labels().values().any(|v| says(v))
            || w.containers().iter().any(|c| {
                ["command", "args"].iter().any(|k| {
                    c.spec
                        .get(*k)
                        .and_then(Value::as_array)
                        .is_some_and(|a| a.iter().filter_map(Value::as_str).any(says))
                })
            })
    })
}

pub fn check(cx: &PolicyCx<'_>) -> Vec<(String, Verdict)> {
    cx.manifests
        .objects
        .iter()
        .filter(|o| matches!(o.kind.as_str(), "Job" | "Pod") && !o.hooks().is_empty() && !o.is_test_hook())
        .filter(|o| is_migration(o))
        .map(|job| {
            let hooks = job.hooks();
            let hook_list = hooks.join(",");
            let mut findings = Vec::new();
            let field = "metadata.annotations.helm.sh/hook".to_string();
            if hooks.contains(&"post-upgrade") {
                findings.push(Finding {
                    object: job.id().to_string(),
                    field: field.clone(),
                    problem: format!(
                        "`{hook_list}`: on upgrade the migration runs after the new pods are rolled out, \
                         so they serve against the old schema until it finishes (or fails)"
                    ),
                    fix: "run migrations as `pre-upgrade` (`post-install,pre-upgrade` when the database is part of the release) \
                          and let the app wait for the schema"
                        .into(),
                });
            } else if !hooks.contains(&"pre-upgrade") {
                findings.push(Finding {
                    object: job.id().to_string(),
                    field,
                    problem: format!("`{hook_list}`: no upgrade hook, so an upgraded release never migrates its schema"),
                    fix: "add `pre-upgrade` to the hook".into(),
                });
            }
            (
                job.id().slug(),
                Verdict::from_findings(
                    job.id().to_string(),
                    "the migration runs before the new pods on upgrade (a pre-upgrade hook, never post-upgrade)",
                    findings,
                ),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::testing::run;
    use super::*;
    use rstest::rstest;

    fn job(name: &str, hook: &str, command: &str) -> String {
        format!("apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: {name}\n  annotations: {{helm.sh/hook: \"{hook}\"}}\nspec:\n  template:\n    spec:\n      restartPolicy: Never\n      containers: [{{name: job, image: app:1.0.0, command: {command}}}]\n")
    }

    #[rstest]
    #[case("post-install,post-upgrade", true)]
    #[case("post-upgrade", true)]
    #[case("pre-install,post-upgrade", true)]
    #[case("post-install", true)]
    #[case("pre-install,pre-upgrade", false)]
    #[case("post-install,pre-upgrade", false)]
    fn a_migration_must_run_before_the_new_pods_on_upgrade(#[case] hook: &str, #[case] bad: bool) {
        let v = run(check, &job("app-migrate", hook, "[migrate]"));
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].1.failed(), bad, "{hook}: {}", v[0].1);
    }

    #[test]
    fn a_post_upgrade_migration_names_the_hook_and_the_fix() {
        let v = run(
            check,
            &job(
                "app-db-setup",
                "post-install,post-upgrade",
                "[npm, run, migrate]",
            ),
        );
        let text = v[0].1.to_string();
        assert!(
            text.contains(
                "`post-install,post-upgrade`: on upgrade the migration runs after the new pods"
            ),
            "{text}"
        );
        assert!(
            text.contains("fix: run migrations as `pre-upgrade`"),
            "{text}"
        );
    }

    #[test]
    fn a_hook_that_is_not_a_migration_is_not_judged() {
        assert!(run(
            check,
            &job("app-seed-cache", "post-install,post-upgrade", "[warm]")
        )
        .is_empty());
    }
}
