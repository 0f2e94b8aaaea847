//! A liveness probe answers one question: is this process wedged? If it
//! also fails when a dependency is down, one database restart makes the
//! kubelet restart every app pod (the issue 17 run: a pod delete of the
//! database restarted the Medplum server). Readiness is where dependency
//! checks belong: it takes the pod out of rotation and puts it back. The
//! rule, per long-running container with a liveness probe:
//!
//! - its HTTP liveness probe is the readiness probe (same path and port)
//!   and the container depends on a database, cache or queue: an env var
//!   naming a location (`*_URL`, `*_URI`, `*_HOST`, `*_ADDR`, `*_DSN`,
//!   `*_ENDPOINT`, `*_SERVER(S)`) whose name or URL scheme says database,
//!   cache or queue (`DATABASE`, `POSTGRES`, `REDIS`, `postgres://`,
//!   `redis://`, ...), pointing at a host other than the pod itself;
//! - its exec liveness command connects to another host: `pg_isready`,
//!   `psql`, `redis-cli`, `valkey-cli`, `mysqladmin`, `mongosh` with `-h`
//!   or `--host`, `curl`/`wget` to a URL, `nc` to a host, or a reference
//!   to such a dependency env var (`$REDIS_URL`, `os.environ['REDIS_URL']`);
//!   `127.0.0.1`, `localhost` and socket paths are the pod itself;
//! - its HTTP liveness probe names another `host`;
//! - its HTTP liveness path is one the suite spec marks as checking
//!   dependencies (`paths.<workload>.checksDependencies`).

use std::collections::BTreeMap;

use serde_json::Value;

use super::lookup::{env, host_of, is_local_host, is_sidecar};
use super::PolicyCx;
use crate::verdict::{Finding, Verdict};

const LOCATION_SUFFIXES: [&str; 10] = [
    "_URL",
    "_URI",
    "_HOST",
    "_HOSTNAME",
    "_ADDR",
    "_ADDRESS",
    "_DSN",
    "_ENDPOINT",
    "_SERVER",
    "_SERVERS",
];
const DATA_SERVICE_WORDS: [&str; 14] = [
    "DATABASE", "POSTGRES", "PG", "DB", "MYSQL", "MARIADB", "MONGO", "REDIS", "VALKEY", "MEMCACHE",
    "RABBIT", "AMQP", "KAFKA", "NATS",
];
const DATA_SCHEMES: [&str; 12] = [
    "postgres",
    "postgresql",
    "mysql",
    "mariadb",
    "mongodb",
    "mongodb+srv",
    "redis",
    "rediss",
    "valkey",
    "amqp",
    "amqps",
    "memcached",
];
const CLIENTS: [&str; 9] = [
    "pg_isready",
    "psql",
    "redis-cli",
    "valkey-cli",
    "mysqladmin",
    "mysql",
    "mongosh",
    "mongo",
    "nc",
];

/// A dependency of a container: the env var that names it and the host (if known).
#[derive(Debug, Clone)]
struct Dependency {
    var: String,
    host: Option<String>,
}

/// Whether a word list names the var: `DB` matches `DB_HOST` and
/// `AUTH_DB_URL`, not `DEBUG_URL`.
fn names(var: &str, words: &[&str]) -> bool {
    var.split(|c: char| !c.is_ascii_alphanumeric()).any(|part| {
        words
            .iter()
            .any(|w| part == *w || (w.len() > 3 && part.contains(w)))
    })
}

/// The container's databases, caches and queues, from its env.
fn dependencies(env: &BTreeMap<String, Option<String>>) -> Vec<Dependency> {
    env.iter()
        .filter_map(|(var, value)| {
            let upper = var.to_ascii_uppercase();
            if !LOCATION_SUFFIXES.iter().any(|s| upper.ends_with(s)) {
                return None;
            }
            let scheme = value
                .as_deref()
                .and_then(|v| v.split_once("://"))
                .map(|(s, _)| s.to_ascii_lowercase());
            let data = names(&upper, &DATA_SERVICE_WORDS)
                || scheme.as_deref().is_some_and(|s| DATA_SCHEMES.contains(&s));
            if !data {
                return None;
            }
            match value {
                // Set from a Secret or a field: a database whose address we cannot see.
                None => Some(Dependency {
                    var: var.clone(),
                    host: None,
                }),
                Some(v) if v.trim().is_empty() => None,
                Some(v) => {
                    let host = host_of(v);
                    (!is_local_host(host)).then(|| Dependency {
                        var: var.clone(),
                        host: Some(host.to_string()),
                    })
                }
            }
        })
        .collect()
}

/// The words of an exec command, a `sh -c` script split into words too.
fn words(command: &[&str]) -> Vec<String> {
    command
        .iter()
        .flat_map(|a| {
            a.split(|c: char| c.is_whitespace() || matches!(c, ';' | '|' | '&' | '(' | ')' | '`'))
        })
        .map(|w| w.trim_matches(|c| c == '"' || c == '\'').to_string())
        .filter(|w| !w.is_empty())
        .collect()
}

/// The other host an exec command connects to, if it does.
fn remote_host(command: &[&str], env: &BTreeMap<String, Option<String>>) -> Option<String> {
    let w = words(command);
    let resolve = |h: &str| -> String {
        let name = h
            .trim_start_matches('$')
            .trim_matches(|c| c == '{' || c == '}' || c == '(' || c == ')');
        match env.get(name) {
            Some(Some(v)) if h.starts_with('$') => host_of(v).to_string(),
            _ => h.to_string(),
        }
    };
    let mut client = None;
    for (i, word) in w.iter().enumerate() {
        let base = word.rsplit('/').next().unwrap_or(word);
        if CLIENTS.contains(&base) || base == "curl" || base == "wget" {
            client = Some(base.to_string());
            continue;
        }
        let Some(c) = client.as_deref() else { continue };
        let host = if let Some(h) = word
            .strip_prefix("--host=")
            .or_else(|| word.strip_prefix("-h="))
        {
            Some(h.to_string())
        } else if (word == "-h" || word == "--host") && c != "curl" && c != "wget" {
            w.get(i + 1).cloned()
        } else if (c == "curl" || c == "wget") && word.contains("://") {
            Some(host_of(word).to_string())
        } else if c == "nc" && !word.starts_with('-') && !word.chars().all(|ch| ch.is_ascii_digit())
        {
            // nc's first operand is its host; what follows is not.
            client = None;
            Some(word.clone())
        } else {
            None
        };
        if let Some(h) = host {
            let h = resolve(&h);
            if !is_local_host(&h) && !h.starts_with('$') {
                return Some(h);
            }
        }
    }
    None
}

/// A dependency env var the command reads (`$REDIS_URL`, `os.environ['REDIS_URL']`).
fn reads_dependency<'d>(command: &[&str], deps: &'d [Dependency]) -> Option<&'d Dependency> {
    let text = command.join(" ");
    deps.iter().find(|d| {
        let v = &d.var;
        [
            format!("${v}"),
            format!("${{{v}}}"),
            format!("$({v})"),
            format!("['{v}']"),
            format!("[\"{v}\"]"),
            format!("('{v}'"),
            format!("(\"{v}\""),
            format!("env.{v}"),
        ]
        .iter()
        .any(|p| text.contains(p.as_str()))
    })
}

fn http(probe: &Value) -> Option<(String, String)> {
    let h = probe.get("httpGet")?;
    let path = h
        .get("path")
        .and_then(Value::as_str)
        .unwrap_or("/")
        .to_string();
    let port = match h.get("port") {
        Some(Value::String(s)) => s.clone(),
        Some(p) => p.to_string(),
        None => String::new(),
    };
    Some((path, port))
}

const FIX: &str = "make the liveness probe check only the process (a `/livez` that answers without touching the \
                   database or cache, or a tcpSocket on the app's port) and keep dependency checks in the readiness probe";

pub fn check(cx: &PolicyCx<'_>) -> Vec<(String, Verdict)> {
    cx.manifests
        .workloads()
        .filter(|w| w.is_long_running())
        .filter_map(|w| {
            let declared = cx.declared.get(&w.object.name).map(|d| d.checks_dependencies.clone()).unwrap_or_default();
            let mut findings = Vec::new();
            let mut probed = false;
            for c in w.containers().into_iter().filter(|c| !c.init || is_sidecar(c)) {
                let Some(live) = c.spec.get("livenessProbe").filter(|p| p.is_object()) else { continue };
                probed = true;
                let env = env(cx.manifests, &c);
                let deps = dependencies(&env);
                let field = format!("{}.livenessProbe", c.path);
                let restarts = format!("while that is down, the kubelet restarts every pod of {}", w.object.id());
                if let Some((path, port)) = http(live) {
                    // `httpGet.host` sends the kubelet's probe to another host.
                    if let Some(host) = live
                        .pointer("/httpGet/host")
                        .and_then(Value::as_str)
                        .filter(|h| !is_local_host(h))
                    {
                        findings.push(Finding {
                            object: c.label(),
                            field: format!("{field}.httpGet.host"),
                            problem: format!("the liveness probe asks `{host}`, not the pod: {restarts}"),
                            fix: FIX.into(),
                        });
                    }
                    let ready = c.spec.get("readinessProbe").and_then(http);
                    if ready.as_ref() == Some(&(path.clone(), port.clone())) {
                        if let Some(d) = deps.first() {
                            findings.push(Finding {
                                object: c.label(),
                                field: format!("{field}.httpGet"),
                                problem: format!(
                                    "liveness is the readiness probe (`{path}` on port {port}) of a container that depends on {} (env `{}`): \
                                     readiness rightly fails while a dependency is down, and as liveness the same check restarts every pod of {}",
                                    d.host.as_deref().map_or("a database or cache".to_string(), |h| format!("`{h}`")),
                                    d.var,
                                    w.object.id()
                                ),
                                fix: FIX.into(),
                            });
                        }
                    }
                    if declared.iter().any(|p| p.trim_end_matches('/') == path.trim_end_matches('/')) {
                        findings.push(Finding {
                            object: c.label(),
                            field: format!("{field}.httpGet.path"),
                            problem: format!("`{path}` checks the app's dependencies (declared by the suite spec), {restarts}"),
                            fix: FIX.into(),
                        });
                    }
                }
                if let Some(cmd) = live.pointer("/exec/command").and_then(Value::as_array) {
                    let cmd: Vec<&str> = cmd.iter().filter_map(Value::as_str).collect();
                    let via = remote_host(&cmd, &env)
                        .map(|h| format!("connects to `{h}`"))
                        .or_else(|| reads_dependency(&cmd, &deps).map(|d| format!("reads the dependency `{}`", d.var)));
                    if let Some(via) = via {
                        findings.push(Finding {
                            object: c.label(),
                            field: format!("{field}.exec.command"),
                            problem: format!("the liveness command {via}, another service: {restarts}"),
                            fix: FIX.into(),
                        });
                    }
                }
            }
            probed.then(|| {
                (
                    w.object.id().slug(),
                    Verdict::from_findings(
                        w.object.id().to_string(),
                        "liveness probes check the process only, never a dependency",
                        findings,
                    ),
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::testing::{deployment, only, run_with};
    use super::super::{Declared, DeclaredPaths};
    use super::*;

    const DB_ENV: &str = "        env: [{name: DATABASE_HOST, value: app-db}, {name: DATABASE_URL, value: 'postgres://u@$(DATABASE_HOST):5432/app'}]\n";

    fn app(probes: &str, env: &str) -> String {
        deployment(&format!("      - name: app\n        image: a:1.0.0\n        ports: [{{name: http, containerPort: 8080}}]\n{env}{probes}"))
    }

    #[test]
    fn liveness_on_the_readiness_path_of_an_app_with_a_database_fails() {
        let v = only(check, &app("        livenessProbe: {httpGet: {path: /health, port: http}}\n        readinessProbe: {httpGet: {path: /health, port: http}}\n", DB_ENV));
        assert!(v.failed());
        let f = v.findings().next().unwrap();
        assert_eq!(
            f.field,
            "spec.template.spec.containers[0].livenessProbe.httpGet"
        );
        assert!(
            f.problem
                .contains("depends on `app-db` (env `DATABASE_HOST`)"),
            "{f:?}"
        );
        assert!(
            f.fix
                .contains("keep dependency checks in the readiness probe"),
            "{f:?}"
        );
    }

    #[test]
    fn a_separate_liveness_path_or_no_dependency_passes() {
        let split = "        livenessProbe: {httpGet: {path: /livez, port: http}}\n        readinessProbe: {httpGet: {path: /readyz, port: http}}\n";
        assert!(!only(check, &app(split, DB_ENV)).failed());
        let same = "        livenessProbe: {httpGet: {path: /health, port: http}}\n        readinessProbe: {httpGet: {path: /health, port: http}}\n";
        let local = "        env: [{name: DATA_SOURCE_URI, value: '127.0.0.1:5432/db'}, {name: REDIS_ADDR, value: 'redis://127.0.0.1:6379'}]\n";
        assert!(!only(check, &app(same, local)).failed());
    }

    #[rstest::rstest]
    #[case("[pg_isready, -h, app-db, -p, '5432']", true)]
    #[case("[sh, -c, 'redis-cli -h $REDIS_HOST ping']", true)]
    #[case("[sh, -c, 'curl -fsS http://app-api:8080/health']", true)]
    #[case(
        "[python, -c, \"import os, redis; redis.Redis.from_url(os.environ['REDIS_URL']).ping()\"]",
        true
    )]
    #[case("[pg_isready, -h, 127.0.0.1, -p, '5432']", false)]
    #[case(
        "[sh, -c, 'exec pg_isready -U \"$POSTGRES_USER\" -h 127.0.0.1']",
        false
    )]
    #[case(
        "[sh, -c, 'REDISCLI_AUTH=\"$REDIS_PASSWORD\" redis-cli -h localhost ping']",
        false
    )]
    #[case("[sh, -c, 'curl -fsS http://localhost:8080/livez']", false)]
    fn an_exec_liveness_that_reaches_another_service_fails(
        #[case] command: &str,
        #[case] bad: bool,
    ) {
        let env = "        env: [{name: REDIS_HOST, value: app-redis}, {name: REDIS_URL, value: 'redis://app-redis:6379/0'}, {name: REDIS_PASSWORD, value: x}]\n";
        let probes = format!("        livenessProbe: {{exec: {{command: {command}}}}}\n        readinessProbe: {{tcpSocket: {{port: http}}}}\n");
        let v = only(check, &app(&probes, env));
        assert_eq!(v.failed(), bad, "{command}: {v}");
    }

    #[test]
    fn a_liveness_probe_sent_to_another_host_fails() {
        let v = only(check, &app("        livenessProbe: {httpGet: {host: app-api, path: /livez, port: 8080}}\n        readinessProbe: {httpGet: {path: /readyz, port: http}}\n", ""));
        assert!(
            v.to_string()
                .contains("the liveness probe asks `app-api`, not the pod"),
            "{v}"
        );
    }

    #[test]
    fn a_liveness_path_the_spec_says_checks_dependencies_fails() {
        let declared: Declared = [(
            "web".to_string(),
            DeclaredPaths {
                checks_dependencies: vec!["/healthcheck".into()],
                ..Default::default()
            },
        )]
        .into();
        let yaml = app("        livenessProbe: {httpGet: {path: /healthcheck, port: http}}\n        readinessProbe: {httpGet: {path: /ready, port: http}}\n", "");
        let v = run_with(check, &yaml, &declared);
        assert!(
            v[0].1.to_string().contains(
                "`/healthcheck` checks the app's dependencies (declared by the suite spec)"
            ),
            "{}",
            v[0].1
        );
    }
}
