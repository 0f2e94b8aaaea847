//! A chart's ServiceAccounts can do what their Roles grant and nothing
//! more, asked of the real API server with SubjectAccessReviews.

use std::collections::BTreeSet;

use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use kube::api::PostParams;
use kube::{Api, Client};
use serde_json::Value;

use crate::verdict::{Finding, Verdict};
use crate::Manifests;

/// One question to the API server, with the answer the chart implies.
#[derive(Debug, Clone)]
pub struct Ask {
    /// A name the rule is limited to (`resourceNames`), asked for by name.
    pub name: Option<String>,
    pub verb: String,
    pub resource: String,
    pub group: String,
    pub namespace: Option<String>,
    pub allowed: bool,
}

/// The ServiceAccounts with a trial each (`cluster/rbac/<account>`): every
/// one the release renders. What each must be allowed is [`derive`]d at
/// judge time, since the asks name the cell's namespace.
pub fn accounts(m: &Manifests) -> Vec<String> {
    m.of_kind("ServiceAccount")
        .map(|sa| sa.name.clone())
        .collect()
}

/// What each ServiceAccount must be allowed (every rule its Roles grant, in
/// the release namespace) and denied (a fixed list of dangerous asks not
/// granted by those rules).
pub fn derive(m: &Manifests, sa: &str, ns: &str) -> Vec<Ask> {
    let mut granted: BTreeSet<(String, String, String, Option<String>)> = BTreeSet::new();
    for rb in m.of_kind("RoleBinding") {
        let binds = rb
            .doc
            .get("subjects")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .any(|s| {
                s.get("kind").and_then(Value::as_str) == Some("ServiceAccount")
                    && s.get("name").and_then(Value::as_str) == Some(sa)
            });
        if !binds || rb.doc.pointer("/roleRef/kind").and_then(Value::as_str) != Some("Role") {
            continue;
        }
        let role = rb
            .doc
            .pointer("/roleRef/name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        for rule in m
            .get("Role", role)
            .and_then(|r| r.doc.get("rules"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let strs = |k: &str| -> Vec<String> {
                rule.get(k)
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .map(String::from)
                    .collect()
            };
            let names = strs("resourceNames");
            for g in strs("apiGroups") {
                for r in strs("resources") {
                    for v in strs("verbs") {
                        granted.insert((v.clone(), r.clone(), g.clone(), names.first().cloned()));
                    }
                }
            }
        }
    }
    let mut asks: Vec<Ask> = granted
        .iter()
        .filter(|(v, r, _, _)| v != "*" && r != "*")
        .map(|(v, r, g, n)| Ask {
            name: n.clone(),
            verb: v.clone(),
            resource: r.clone(),
            group: g.clone(),
            namespace: Some(ns.into()),
            allowed: true,
        })
        .collect();
    // A grant limited to named objects does not grant the verb in general.
    let grants = |v: &str, r: &str| {
        granted
            .iter()
            .any(|(gv, gr, _, n)| n.is_none() && (gv == v || gv == "*") && (gr == r || gr == "*"))
    };
    for (verb, resource, group, other_ns) in [
        ("list", "secrets", "", true),
        ("get", "secrets", "", false),
        ("list", "secrets", "", false),
        ("delete", "pods", "", false),
        ("create", "pods", "", false),
        ("create", "pods/exec", "", false),
        ("create", "rolebindings", "rbac.authorization.k8s.io", false),
        ("list", "nodes", "", true),
    ] {
        if other_ns || !grants(verb, resource) {
            asks.push(Ask {
                name: None,
                verb: verb.into(),
                resource: resource.into(),
                group: group.into(),
                namespace: if other_ns {
                    if resource == "nodes" {
                        None
                    } else {
                        Some("kube-system".into())
                    }
                } else {
                    Some(ns.into())
                },
                allowed: false,
            });
        }
    }
    asks
}

pub async fn check(client: &Client, ns: &str, sa: &str, asks: &[Ask]) -> Verdict {
    let user = format!("system:serviceaccount:{ns}:{sa}");
    let api: Api<SubjectAccessReview> = Api::all(client.clone());
    let mut findings = Vec::new();
    for a in asks {
        let review = SubjectAccessReview {
            spec: SubjectAccessReviewSpec {
                user: Some(user.clone()),
                groups: Some(vec![
                    "system:serviceaccounts".into(),
                    format!("system:serviceaccounts:{ns}"),
                    "system:authenticated".into(),
                ]),
                resource_attributes: Some(ResourceAttributes {
                    verb: Some(a.verb.clone()),
                    resource: Some(a.resource.split('/').next().unwrap_or_default().to_string()),
                    subresource: a.resource.split_once('/').map(|(_, s)| s.to_string()),
                    group: Some(a.group.clone()),
                    namespace: a.namespace.clone(),
                    name: a.name.clone(),
                    ..Default::default()
                }),
                ..Default::default()
            },
            ..Default::default()
        };
        let where_ = format!(
            "{}{}",
            a.namespace.clone().unwrap_or_else(|| "cluster-wide".into()),
            a.name
                .as_ref()
                .map(|n| format!(" (name {n})"))
                .unwrap_or_default()
        );
        match api.create(&PostParams::default(), &review).await {
            Ok(r) => {
                let allowed = r.status.map(|s| s.allowed).unwrap_or(false);
                if allowed != a.allowed {
                    findings.push(Finding {
                        object: format!("ServiceAccount/{sa}"),
                        field: format!("{} {} in {where_}", a.verb, a.resource),
                        problem: if allowed { "allowed, but no Role of the chart grants it".into() } else { "denied, but the chart's Role grants it (is the RoleBinding right?)".into() },
                        fix: if allowed { "find the binding that grants it (kubectl auth can-i --list) and remove it".into() } else { "bind the Role to this ServiceAccount in the release namespace".into() },
                    });
                }
            }
            Err(e) => findings.push(Finding {
                object: format!("ServiceAccount/{sa}"),
                field: format!("{} {}", a.verb, a.resource),
                problem: format!("SubjectAccessReview failed: {e}"),
                fix: "-".into(),
            }),
        }
    }
    let granted = asks.iter().filter(|a| a.allowed).count();
    let mut v = Verdict::from_findings(
        format!("ServiceAccount/{sa}"),
        format!(
            "can do the {granted} things its Roles grant, and none of {} dangerous asks",
            asks.len() - granted
        ),
        findings,
    );
    if !v.failed() {
        v.observed = format!("{} answers as expected", asks.len());
    }
    v
}
