//! Backups restore: for every backup CronJob (see `cronjobs::derive`), the
//! harness writes known rows into the database, in a table of its own
//! ([`PROBE_TABLE`]), triggers the backup from the CronJob, restores the
//! newest dump into a scratch database with `pg_restore`, and compares:
//! every table that existed before the backup is there, and the probe's
//! rows come back exactly (count and digest). A dump that restores empty
//! or partial fails; a listing (`pg_restore --list`) could not show it.
//!
//! Both helper pods are made from the CronJob's own pod template: the same
//! image, credentials, claim, labels (so the release's NetworkPolicies let
//! them reach the database, as they let the backup) and security context.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{DeleteParams, PostParams};
use kube::{Api, Client};

use crate::runtime::cronjobs::{helper_pod, job_from, label_name, Backup, CronSpec};
use crate::runtime::explain::{pod_state, PodState};
use crate::runtime::view::NamespaceView;
use crate::runtime::wait::{self, Progress};
use crate::runtime::{logs, ready};
use crate::verdict::{Evidence, Finding, Verdict};

/// The harness's own table: created, filled, compared, never the app's.
pub const PROBE_TABLE: &str = "vitals_restore_probe";
/// Rows written before each backup.
pub const ROWS: u64 = 100;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RestoreError {
    #[error("the CronJob cannot be read: {0}")]
    CronJob(String),
    #[error("helper pod {pod}: {message}")]
    Helper { pod: String, message: String },
    #[error("the backup Job {job}: {message}")]
    Job { job: String, message: String },
    #[error("{step}: {output}")]
    Output { step: &'static str, output: String },
}

/// What the database held just before the backup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seed {
    pub rows: u64,
    pub digest: String,
    pub tables: Vec<String>,
}

/// What the scratch database held after `pg_restore`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restored {
    pub file: String,
    pub bytes: u64,
    pub tables: Vec<String>,
    /// The probe's (rows, digest), or None when its table did not restore.
    pub probe: Option<(u64, String)>,
}

/// Waits for the database (a new pod's policy takes the CNI a moment), in
/// the pod: the chart's own backup scripts wait the same way. Backticks,
/// not `$(...)`, which Kubernetes would expand in a command.
const WAIT_DB: &str = r#"n=0
until pg_isready -q -t 3; do
  n=`expr $n + 1`
  if [ "$n" -ge 40 ]; then echo "VITALS-ERROR PostgreSQL $PGHOST:${PGPORT:-5432} not ready after 120s"; exit 9; fi
  sleep 3
done
"#;

fn seed_script() -> String {
    format!(
        r#"set -eu
{WAIT_DB}psql -v ON_ERROR_STOP=1 -qAt -c "CREATE TABLE IF NOT EXISTS {PROBE_TABLE} (id integer PRIMARY KEY, note text NOT NULL)" -c "TRUNCATE {PROBE_TABLE}" -c "INSERT INTO {PROBE_TABLE} SELECT g, 'vitals-' || g || '-' || '$VITALS_TOKEN' FROM generate_series(1, {ROWS}) g"
probe=`psql -v ON_ERROR_STOP=1 -qAt -c "SELECT count(*) || '/' || md5(string_agg(note, ',' ORDER BY id)) FROM {PROBE_TABLE}"`
tables=`psql -v ON_ERROR_STOP=1 -qAt -c "SELECT coalesce(string_agg(schemaname || '.' || tablename, ',' ORDER BY 1), '') FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"`
echo "VITALS-SEED probe=$probe tables=$tables"
"#
    )
}

fn restore_script() -> String {
    format!(
        r#"set -eu
{WAIT_DB}f=`ls -1t "$VITALS_DUMP_DIR"/*.dump 2>/dev/null | head -n 1 || true`
if [ -z "$f" ]; then echo "VITALS-ERROR no .dump in $VITALS_DUMP_DIR"; ls -la "$VITALS_DUMP_DIR"; exit 3; fi
db=vitals_scratch_$VITALS_TOKEN
psql -v ON_ERROR_STOP=1 -qAt -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
if ! err=`pg_restore --no-owner --no-privileges --exit-on-error -d "$db" "$f" 2>&1`; then
  psql -qAt -d postgres -c "DROP DATABASE IF EXISTS $db" || true
  echo "VITALS-ERROR pg_restore of $f into $db failed: $err"; exit 4
fi
tables=`psql -v ON_ERROR_STOP=1 -qAt -d "$db" -c "SELECT coalesce(string_agg(schemaname || '.' || tablename, ',' ORDER BY 1), '') FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"`
probe=`psql -qAt -d "$db" -c "SELECT count(*) || '/' || coalesce(md5(string_agg(note, ',' ORDER BY id)), '-') FROM {PROBE_TABLE}" 2>/dev/null || echo missing`
psql -qAt -d postgres -c "DROP DATABASE IF EXISTS $db" || true
echo "VITALS-RESTORE file=$f bytes=`wc -c < "$f"` tables=$tables probe=$probe"
"#
    )
}

fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
}

fn list(s: Option<&str>) -> Vec<String> {
    s.unwrap_or("")
        .split(',')
        .filter(|t| !t.is_empty())
        .map(String::from)
        .collect()
}

fn probe(s: &str) -> Option<(u64, String)> {
    let (n, d) = s.split_once('/')?;
    Some((n.parse().ok()?, d.to_string()))
}

fn error_line(out: &str) -> Option<String> {
    out.lines()
        .find_map(|l| l.strip_prefix("VITALS-ERROR "))
        .map(String::from)
}

pub fn parse_seed(out: &str) -> Result<Seed, RestoreError> {
    let fail = |o: String| RestoreError::Output {
        step: "writing the probe rows",
        output: o,
    };
    let Some(line) = out.lines().find(|l| l.starts_with("VITALS-SEED ")) else {
        return Err(fail(
            error_line(out).unwrap_or_else(|| out.trim().to_string()),
        ));
    };
    let (rows, digest) = field(line, "probe")
        .and_then(probe)
        .ok_or_else(|| fail(line.to_string()))?;
    Ok(Seed {
        rows,
        digest,
        tables: list(field(line, "tables")),
    })
}

pub fn parse_restored(out: &str) -> Result<Restored, RestoreError> {
    let fail = |o: String| RestoreError::Output {
        step: "restoring the newest dump",
        output: o,
    };
    let Some(line) = out.lines().find(|l| l.starts_with("VITALS-RESTORE ")) else {
        return Err(fail(
            error_line(out).unwrap_or_else(|| out.trim().to_string()),
        ));
    };
    Ok(Restored {
        file: field(line, "file").unwrap_or("?").to_string(),
        bytes: field(line, "bytes")
            .and_then(|b| b.parse().ok())
            .unwrap_or(0),
        tables: list(field(line, "tables")),
        probe: field(line, "probe").and_then(probe),
    })
}

/// The restored database against what was there before the backup.
pub fn judge(
    cron: &str,
    seed: &Result<Seed, RestoreError>,
    restored: &Result<Restored, RestoreError>,
) -> Verdict {
    let subject = format!("CronJob/{cron}");
    let expected = format!(
        "{ROWS} rows written to `{PROBE_TABLE}`, a backup triggered from the CronJob, the newest dump restored into a scratch database with pg_restore: every table there, the rows identical"
    );
    let seed = match seed {
        Ok(s) => s,
        Err(e) => return Verdict::fail(subject, expected, format!("before the backup: {e}")),
    };
    let r = match restored {
        Ok(r) => r,
        Err(e) => {
            return Verdict::fail(subject, expected, e.to_string())
                .with_hint("the backup must write pg_dump's custom format (--format=custom) of the whole database to the claim the CronJob mounts")
        }
    };
    let missing: Vec<&String> = seed
        .tables
        .iter()
        .filter(|t| !r.tables.contains(t))
        .collect();
    let mut findings = Vec::new();
    if r.tables.is_empty() {
        findings.push(Finding {
            object: subject.clone(),
            field: "spec.jobTemplate.spec.template.spec.containers[].command".into(),
            problem: format!("{} ({} bytes) restores an empty database: no table at all", r.file, r.bytes),
            fix: "dump the database the app writes to (PGDATABASE), whole, with pg_dump --format=custom".into(),
        });
    } else if !missing.is_empty() {
        findings.push(Finding {
            object: subject.clone(),
            field: "spec.jobTemplate.spec.template.spec.containers[].command".into(),
            problem: format!(
                "{} restores partial: {} of {} tables missing ({}), though they existed before the backup",
                r.file,
                missing.len(),
                seed.tables.len(),
                missing.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
            ),
            fix: "drop any --table/--exclude-table/--schema filter from pg_dump: a backup must hold every table".into(),
        });
    } else {
        match &r.probe {
            Some((n, d)) if *n == seed.rows && *d == seed.digest => {}
            Some((n, _)) => findings.push(Finding {
                object: subject.clone(),
                field: format!("table {PROBE_TABLE}"),
                problem: format!("{n} of {} rows restored, or their content differs (digest)", seed.rows),
                fix: "the dump must be taken after the writes it should hold, in one consistent snapshot (pg_dump does this)".into(),
            }),
            None => findings.push(Finding {
                object: subject.clone(),
                field: format!("table {PROBE_TABLE}"),
                problem: "the probe table did not restore".into(),
                fix: "dump the whole database with pg_dump --format=custom".into(),
            }),
        }
    }
    let observed = format!(
        "{} ({} bytes): {} table(s) restored, {}",
        r.file,
        r.bytes,
        r.tables.len(),
        match &r.probe {
            Some((n, _)) => format!("{n} of {} probe rows", seed.rows),
            None => "no probe rows".into(),
        }
    );
    if findings.is_empty() {
        Verdict::pass(subject, expected, format!("{observed}, identical"))
    } else {
        let mut v = Verdict::from_findings(subject, expected, findings);
        v.observed = observed;
        v.with_evidence(Evidence::Note {
            text: format!(
                "tables before the backup: {}; restored: {}",
                seed.tables.join(", "),
                r.tables.join(", ")
            ),
        })
    }
}

fn stamp() -> String {
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    format!("{}", t.as_millis() % 1_000_000_000)
}

/// Runs `script` in a pod made from the CronJob's template; its log.
async fn helper(
    client: &Client,
    view: &NamespaceView,
    cj: &CronJob,
    b: &Backup,
    role: &str,
    script: String,
    token: &str,
) -> Result<String, RestoreError> {
    let ns = view.namespace.as_str();
    let pod = helper_pod(
        cj,
        b,
        &format!("{role}-{}", stamp()),
        script,
        &[("VITALS_DUMP_DIR", b.dir.as_str()), ("VITALS_TOKEN", token)],
    )
    .map_err(|e| RestoreError::CronJob(e.to_string()))?;
    let name = pod.metadata.name.clone().unwrap_or_default();
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    pods.create(&PostParams::default(), &pod)
        .await
        .map_err(|e| RestoreError::Helper {
            pod: name.clone(),
            message: format!("creating: {e}"),
        })?;
    let v = view.clone();
    let ended = wait::until(
        pods.clone(),
        &format!("Pod/{name}"),
        &name,
        Duration::from_secs(240),
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
    let out = logs::tail(client, ns, &name, None, false, 60).await;
    let _ = pods.delete(&name, &DeleteParams::default()).await;
    ended.map_err(|e| RestoreError::Helper {
        pod: name,
        message: e.to_string(),
    })?;
    Ok(out)
}

/// Triggers the backup once from the CronJob and waits for it.
async fn backup(
    client: &Client,
    view: &NamespaceView,
    cj: &CronJob,
) -> Result<String, RestoreError> {
    let ns = view.namespace.as_str();
    let job = label_name(
        cj.metadata.name.as_deref().unwrap_or("backup"),
        &format!("restore-{}", stamp()),
    );
    Api::<Job>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &job_from(cj, &job))
        .await
        .map_err(|e| RestoreError::Job {
            job: job.clone(),
            message: format!("creating: {e}"),
        })?;
    let v = view.clone();
    wait::until(
        ready::api_for(client, ns, "batch/v1", "Job"),
        &format!("Job/{job}"),
        &job,
        Duration::from_secs(300),
        view.changes(),
        move |o| ready::judge("Job", o, &v),
    )
    .await
    .map_err(|e| RestoreError::Job {
        job: job.clone(),
        message: e.to_string(),
    })
}

/// The whole round trip for one backup CronJob.
pub async fn check(client: &Client, view: &NamespaceView, c: &CronSpec) -> Verdict {
    let Some(b) = &c.backup else {
        return Verdict::skip(format!("CronJob/{}", c.name), "not a database backup");
    };
    let cj = match Api::<CronJob>::namespaced(client.clone(), &view.namespace)
        .get(&c.name)
        .await
    {
        Ok(cj) => cj,
        Err(e) => {
            return judge(
                &c.name,
                &Err(RestoreError::CronJob(e.to_string())),
                &Err(RestoreError::CronJob(String::new())),
            )
        }
    };
    let token = stamp();
    let seed = match helper(client, view, &cj, b, "seed", seed_script(), &token).await {
        Ok(out) => parse_seed(&out),
        Err(e) => Err(e),
    };
    if seed.is_err() {
        return judge(&c.name, &seed, &Err(RestoreError::CronJob(String::new())));
    }
    let restored = match backup(client, view, &cj).await {
        Ok(_) => match helper(client, view, &cj, b, "restore", restore_script(), &token).await {
            Ok(out) => parse_restored(&out),
            Err(e) => Err(e),
        },
        Err(e) => Err(e),
    };
    judge(&c.name, &seed, &restored)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed() -> Result<Seed, RestoreError> {
        parse_seed("VITALS-SEED probe=100/abc123 tables=public.users,public.vitals_restore_probe\n")
    }

    #[test]
    fn the_seed_and_restore_lines_parse() {
        let s = seed().unwrap();
        assert_eq!((s.rows, s.digest.as_str()), (100, "abc123"));
        assert_eq!(
            s.tables,
            vec!["public.users", "public.vitals_restore_probe"]
        );
        let r = parse_restored(
            "x\nVITALS-RESTORE file=/backups/a.dump bytes=4096 tables=public.users probe=missing\n",
        )
        .unwrap();
        assert_eq!(r.probe, None);
        assert_eq!(r.bytes, 4096);
    }

    #[test]
    fn an_identical_restore_passes() {
        let r = parse_restored("VITALS-RESTORE file=/b/a.dump bytes=9 tables=public.users,public.vitals_restore_probe probe=100/abc123");
        let v = judge("db-backup", &seed(), &r);
        assert!(!v.failed(), "{v}");
        assert!(
            v.observed
                .ends_with("2 table(s) restored, 100 of 100 probe rows, identical"),
            "{v}"
        );
    }

    #[test]
    fn a_dump_missing_a_table_fails_naming_the_table_and_the_fix() {
        let r = parse_restored(
            "VITALS-RESTORE file=/b/a.dump bytes=9 tables=public.users probe=missing",
        );
        let text = judge("db-backup", &seed(), &r).to_string();
        assert!(
            text.contains("restores partial: 1 of 2 tables missing (public.vitals_restore_probe)"),
            "{text}"
        );
        assert!(text.contains("--exclude-table"), "{text}");
    }

    #[test]
    fn an_empty_restore_and_a_failed_restore_fail() {
        let r = parse_restored("VITALS-RESTORE file=/b/a.dump bytes=9 tables= probe=missing");
        assert!(judge("db-backup", &seed(), &r)
            .to_string()
            .contains("restores an empty database"));
        let bad = parse_restored("VITALS-ERROR pg_restore of /b/a.dump into x failed: pg_restore: error: input file does not appear to be a valid archive");
        let text = judge("db-backup", &seed(), &bad).to_string();
        assert!(
            text.contains("does not appear to be a valid archive"),
            "{text}"
        );
        assert!(text.contains("--format=custom"), "{text}");
    }

    #[test]
    fn rows_lost_or_changed_fail() {
        let r = parse_restored("VITALS-RESTORE file=/b/a.dump bytes=9 tables=public.users,public.vitals_restore_probe probe=60/zzz");
        assert!(judge("db-backup", &seed(), &r)
            .to_string()
            .contains("60 of 100 rows restored"));
    }

    #[test]
    fn the_scripts_never_use_dollar_parens_which_kubernetes_would_expand() {
        assert!(!seed_script().contains("$("));
        assert!(!restore_script().contains("$("));
    }
}
