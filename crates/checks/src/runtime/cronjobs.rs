//! Every CronJob really runs: triggered once by hand (a Job from its
//! jobTemplate, owned by the CronJob, as `kubectl create job --from=cronjob/x`
//! makes it), the Job completes. A backup CronJob (its container runs
//! `pg_dump`) must also leave a dump the database's own restore tool can
//! read: a pod from the same template, mounting the same claim, runs
//! `pg_restore --list` on the newest dump. A dump nobody can restore is the
//! failure a backup exists to prevent, and the Job's exit code cannot show it.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{EnvVar, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::{DeleteParams, PostParams};
use kube::{Api, Client};
use serde_json::Value;

use super::explain::{pod_state, PodState};
use super::logs;
use super::ready;
use super::view::NamespaceView;
use super::wait::{self, Progress, WaitError};
use crate::verdict::{Evidence, Verdict};
use crate::Manifests;

/// A CronJob the chart renders, and what its backup (if any) writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronSpec {
    pub name: String,
    pub backup: Option<Backup>,
}

/// Where a PostgreSQL backup container leaves its dumps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backup {
    pub container: String,
    /// The mount path of the claim the dumps land on.
    pub dir: String,
}

/// CronJobs in the manifests; a container whose command runs `pg_dump` and
/// mounts a claim makes it a backup.
pub fn derive(m: &Manifests) -> Vec<CronSpec> {
    m.of_kind("CronJob")
        .filter(|o| o.hooks().is_empty())
        .map(|o| {
            let spec = o.doc.pointer("/spec/jobTemplate/spec/template/spec");
            let claims: Vec<&str> = spec
                .and_then(|s| s.get("volumes"))
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter(|v| v.get("persistentVolumeClaim").is_some())
                .filter_map(|v| v.get("name").and_then(Value::as_str))
                .collect();
            let backup = spec
                .and_then(|s| s.get("containers"))
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .find_map(|c| {
                    let script = ["command", "args"]
                        .iter()
                        .filter_map(|k| c.get(*k))
                        .map(Value::to_string)
                        .collect::<String>();
                    // A script mounted from a ConfigMap hides the pg_dump: the
                    // image and the script's name say it instead.
                    let image = c.get("image").and_then(Value::as_str).unwrap_or("");
                    let is_backup = script.contains("pg_dump")
                        || (script.contains("backup") && image.contains("postgres"));
                    if !is_backup {
                        return None;
                    }
                    let dir = c
                        .get("volumeMounts")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .find(|vm| {
                            vm.get("name")
                                .and_then(Value::as_str)
                                .is_some_and(|n| claims.contains(&n))
                        })?
                        .get("mountPath")?
                        .as_str()?
                        .to_string();
                    Some(Backup {
                        container: c.get("name")?.as_str()?.to_string(),
                        dir,
                    })
                });
            CronSpec {
                name: o.name.clone(),
                backup,
            }
        })
        .collect()
}

/// A DNS label from a base and a suffix, at most 63 characters (Job names
/// end up in the `job-name` pod label).
pub(crate) fn label_name(base: &str, suffix: &str) -> String {
    let keep = 63 - suffix.len() - 1;
    let base: String = base.chars().take(keep).collect();
    format!("{}-{suffix}", base.trim_end_matches('-'))
}

fn stamp() -> String {
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    format!("{}", t.as_secs() % 1_000_000)
}

/// The Job a manual trigger makes from the CronJob
/// (`kubectl create job --from=cronjob/x`).
pub(crate) fn job_from(cj: &CronJob, name: &str) -> Job {
    let tmpl = cj
        .spec
        .as_ref()
        .map(|s| s.job_template.clone())
        .unwrap_or_default();
    let meta = tmpl.metadata.unwrap_or_default();
    Job {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            labels: meta.labels,
            annotations: Some(BTreeMap::from([(
                "cronjob.kubernetes.io/instantiate".to_string(),
                "manual".to_string(),
            )])),
            owner_references: Some(vec![OwnerReference {
                api_version: "batch/v1".into(),
                kind: "CronJob".into(),
                name: cj.metadata.name.clone().unwrap_or_default(),
                uid: cj.metadata.uid.clone().unwrap_or_default(),
                controller: Some(true),
                block_owner_deletion: Some(true),
            }]),
            ..ObjectMeta::default()
        },
        spec: tmpl.spec,
        status: None,
    }
}

/// Why a helper pod cannot be made from a CronJob.
#[derive(Debug, thiserror::Error)]
pub enum HelperPodError {
    #[error("the CronJob has no pod template")]
    NoTemplate,
    #[error("the CronJob has no pod spec")]
    NoSpec,
    #[error("the CronJob has no container `{0}`")]
    NoContainer(String),
}

/// A one-off pod from the CronJob's own pod template that runs `script` in
/// the backup's container, so it sees the image, mounts and credentials the
/// backup itself used: the dump verifier and the availability tier's
/// restore both read what the backup wrote this way. Probes and init
/// containers go; `env` is added; named `<cronjob>-<suffix>`.
pub(crate) fn helper_pod(
    cj: &CronJob,
    b: &Backup,
    suffix: &str,
    script: String,
    env: &[(&str, &str)],
) -> Result<Pod, HelperPodError> {
    let tmpl = cj
        .spec
        .as_ref()
        .and_then(|s| s.job_template.spec.as_ref())
        .map(|s| s.template.clone())
        .ok_or(HelperPodError::NoTemplate)?;
    let mut spec = tmpl.spec.ok_or(HelperPodError::NoSpec)?;
    let mut c = spec
        .containers
        .iter()
        .find(|c| c.name == b.container)
        .cloned()
        .ok_or_else(|| HelperPodError::NoContainer(b.container.clone()))?;
    c.command = Some(vec!["/bin/sh".into(), "-c".into(), script]);
    c.args = None;
    c.liveness_probe = None;
    c.readiness_probe = None;
    c.startup_probe = None;
    let vars = c.env.get_or_insert_with(Vec::new);
    for (k, v) in env {
        vars.push(EnvVar {
            name: (*k).into(),
            value: Some((*v).into()),
            ..EnvVar::default()
        });
    }
    spec.containers = vec![c];
    spec.init_containers = None;
    spec.restart_policy = Some("Never".into());
    let name = label_name(cj.metadata.name.as_deref().unwrap_or("backup"), suffix);
    Ok(Pod {
        metadata: ObjectMeta {
            name: Some(name),
            labels: tmpl.metadata.and_then(|m| m.labels),
            ..ObjectMeta::default()
        },
        spec: Some(spec),
        status: None,
    })
}

/// Triggers the CronJob once and judges the run (and the dump, for backups).
/// Triggers a run of the CronJob in the cell and judges it.
pub async fn judge(c: &CronSpec, cx: &super::CheckCx<'_>) -> Verdict {
    check(cx.client, cx.view, c).await
}

pub async fn check(client: &Client, view: &NamespaceView, c: &CronSpec) -> Verdict {
    let ns = view.namespace.as_str();
    let subject = format!("CronJob/{}", c.name);
    let expected = match &c.backup {
        Some(b) => format!(
            "a run triggered by hand completes and leaves a dump in {} that `pg_restore --list` reads",
            b.dir
        ),
        None => "a run triggered by hand completes".to_string(),
    };
    let cronjobs: Api<CronJob> = Api::namespaced(client.clone(), ns);
    let cj = match cronjobs.get(&c.name).await {
        Ok(cj) => cj,
        Err(e) => return Verdict::fail(&subject, expected, format!("not found: {e}")),
    };
    let job_name = label_name(&c.name, &format!("vitals-{}", stamp()));
    let jobs: Api<Job> = Api::namespaced(client.clone(), ns);
    if let Err(e) = jobs
        .create(&PostParams::default(), &job_from(&cj, &job_name))
        .await
    {
        return Verdict::fail(&subject, expected, format!("creating Job {job_name}: {e}"));
    }
    // The Job's own deadline bounds the run; a margin covers scheduling.
    let deadline = cj
        .spec
        .as_ref()
        .and_then(|s| s.job_template.spec.as_ref()?.active_deadline_seconds)
        .map(|s| Duration::from_secs(s.max(0) as u64 + 60))
        .unwrap_or(Duration::from_secs(600))
        .min(Duration::from_secs(900));
    let v = view.clone();
    let waited = wait::until(
        ready::api_for(client, ns, "batch/v1", "Job"),
        &format!("Job/{job_name}"),
        &job_name,
        deadline,
        view.changes(),
        move |o| ready::judge("Job", o, &v),
    )
    .await;
    let run_log = job_log(client, view, &job_name).await;
    let with_log = |v: Verdict| match &run_log {
        Some((pod, text)) if !text.is_empty() => v.with_evidence(Evidence::Note {
            text: format!("log of {pod}:\n{text}"),
        }),
        _ => v,
    };
    let done = match waited {
        Ok(s) => s,
        Err(e) => {
            return with_log(Verdict::fail(
                &subject,
                expected,
                format!("Job {job_name}: {e}"),
            ))
        }
    };
    let Some(b) = &c.backup else {
        return with_log(Verdict::pass(
            &subject,
            expected,
            format!("Job {job_name} completed ({done})"),
        ));
    };
    match verify_dump(client, view, &cj, b).await {
        Ok(found) => with_log(Verdict::pass(
            &subject,
            expected,
            format!("Job {job_name} completed; {found}"),
        )),
        Err(why) => with_log(Verdict::fail(
            &subject,
            expected,
            format!(
                "Job {job_name} completed, but the dump does not restore: {}",
                super::chain(&why)
            ),
        ))
        .with_hint("the backup must write pg_dump's custom format (--format=custom) to the claim the CronJob mounts"),
    }
}

async fn job_log(client: &Client, view: &NamespaceView, job: &str) -> Option<(String, String)> {
    let pod = view.pods.state().into_iter().find(|p| {
        p.metadata
            .labels
            .as_ref()
            .and_then(|l| l.get("job-name"))
            .is_some_and(|n| n == job)
    })?;
    let name = pod.metadata.name.clone()?;
    let text = logs::tail(client, &view.namespace, &name, None, false, 20).await;
    Some((name, text))
}

/// The verifier: the newest `*.dump`, its size and table-of-contents count.
const VERIFY: &str = r#"set -eu
f=`ls -1t "$VITALS_DUMP_DIR"/*.dump 2>/dev/null | head -n 1 || true`
if [ -z "$f" ]; then echo "VITALS-DUMP none in $VITALS_DUMP_DIR"; ls -la "$VITALS_DUMP_DIR"; exit 3; fi
toc=`pg_restore --list "$f"`
n=`printf '%s\n' "$toc" | grep -vc '^;' || true`
echo "VITALS-DUMP file=$f bytes=`wc -c < "$f"` entries=$n"
"#;

/// Why a backup's dump could not be shown to restore.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error(transparent)]
    HelperPod(#[from] HelperPodError),
    #[error("creating verifier pod {name}")]
    Create {
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error(transparent)]
    Wait(#[from] WaitError),
    #[error("pg_restore could not read the dump: {0}")]
    Unreadable(String),
    /// The verifier's own words (`none in <dir>`, a short archive).
    #[error("{0}")]
    NoDump(String),
}

/// Runs `pg_restore --list` on the newest dump in a pod made from the
/// CronJob's own template (same image, claim and security context).
async fn verify_dump(
    client: &Client,
    view: &NamespaceView,
    cj: &CronJob,
    b: &Backup,
) -> Result<String, VerifyError> {
    let ns = view.namespace.as_str();
    let pod = helper_pod(
        cj,
        b,
        &format!("verify-{}", stamp()),
        VERIFY.into(),
        &[("VITALS_DUMP_DIR", b.dir.as_str())],
    )?;
    let name = pod.metadata.name.clone().unwrap_or_default();
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    pods.create(&PostParams::default(), &pod)
        .await
        .map_err(|source| VerifyError::Create {
            name: name.clone(),
            source,
        })?;
    let v = view.clone();
    let ended = wait::until(
        pods.clone(),
        &format!("Pod/{name}"),
        &name,
        Duration::from_secs(180),
        view.changes(),
        move |p| match p {
            None => Progress::Pending("not created yet".into()),
            Some(p) => match p.status.as_ref().and_then(|s| s.phase.as_deref()) {
                Some("Succeeded" | "Failed") => Progress::Done(String::new()),
                _ => match pod_state(p, &v) {
                    PodState::Terminal(why) => Progress::Failed(why),
                    PodState::Pending(s) => Progress::Pending(s),
                    _ => Progress::Pending("running".into()),
                },
            },
        },
    )
    .await;
    let out = logs::tail(client, ns, &name, None, false, 40).await;
    let _ = pods.delete(&name, &DeleteParams::default()).await;
    ended?;
    parse_verify(&out)
}

/// Reads the verifier's one result line.
fn parse_verify(out: &str) -> Result<String, VerifyError> {
    let Some(line) = out.lines().find(|l| l.starts_with("VITALS-DUMP ")) else {
        return Err(VerifyError::Unreadable(out.trim().into()));
    };
    let field = |k: &str| {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(&format!("{k}=")))
            .map(str::to_string)
    };
    match (field("file"), field("bytes"), field("entries")) {
        // A valid archive of an empty database lists no entries: still one
        // the restore tool reads (the stand-in apps write no tables).
        (Some(f), Some(b), Some(n)) if n == "0" => Ok(format!(
            "{f} ({b} bytes) is a valid archive under pg_restore --list (an empty database: no entries)"
        )),
        (Some(f), Some(b), Some(n)) => Ok(format!(
            "{f} ({b} bytes) lists {n} entries under pg_restore --list"
        )),
        _ => Err(VerifyError::NoDump(
            line.trim_start_matches("VITALS-DUMP ").to_string(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifests(script: &str) -> Manifests {
        Manifests::parse(&format!(
            r#"
apiVersion: batch/v1
kind: CronJob
metadata: {{name: db-backup}}
spec:
  schedule: "0 2 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          containers:
            - name: backup
              image: local/postgres:15
              command: ["/bin/sh", "-ec"]
              args: [{script:?}]
              volumeMounts:
                - {{name: tmp, mountPath: /tmp}}
                - {{name: dumps, mountPath: /backups}}
          volumes:
            - {{name: tmp, emptyDir: {{}}}}
            - {{name: dumps, persistentVolumeClaim: {{claimName: db-backup}}}}
"#
        ))
        .unwrap()
    }

    #[test]
    fn a_cronjob_running_pg_dump_onto_a_claim_is_a_backup_of_that_directory() {
        let specs = derive(&manifests("pg_dump --format=custom --file=/backups/x.dump"));
        assert_eq!(
            specs,
            vec![CronSpec {
                name: "db-backup".into(),
                backup: Some(Backup {
                    container: "backup".into(),
                    dir: "/backups".into()
                })
            }]
        );
    }

    #[test]
    fn any_other_cronjob_only_has_to_complete() {
        let specs = derive(&manifests("curl -X POST http://api/cleanup"));
        assert_eq!(specs[0].backup, None);
    }

    #[test]
    fn job_names_fit_a_label_value() {
        let n = label_name(&"x".repeat(80), "vitals-123456");
        assert!(n.len() <= 63, "{n}");
        assert!(n.ends_with("-vitals-123456"));
    }

    #[test]
    fn a_dump_pg_restore_lists_passes_with_its_size_and_entries() {
        let got =
            parse_verify("VITALS-DUMP file=/backups/db-1.dump bytes=2048 entries=12\n").unwrap();
        assert_eq!(
            got,
            "/backups/db-1.dump (2048 bytes) lists 12 entries under pg_restore --list"
        );
    }

    #[test]
    fn a_plain_sql_file_or_no_dump_fails_with_what_pg_restore_said() {
        let err = parse_verify(
            "pg_restore: error: input file appears to be a text format dump. Please use psql.",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("appears to be a text format dump"), "{err}");
        let err = parse_verify("VITALS-DUMP none in /backups\ntotal 0")
            .unwrap_err()
            .to_string();
        assert!(err.contains("none in /backups"), "{err}");
        let ok = parse_verify("VITALS-DUMP file=/backups/a.dump bytes=900 entries=0").unwrap();
        assert!(ok.contains("an empty database"), "{ok}");
    }
}
