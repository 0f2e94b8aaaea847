//! A chart's ServiceAccounts can do what their Roles grant and nothing
//! more, asked of the real API server with SubjectAccessReviews.

use std::collections::BTreeSet;

use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use kube::api::PostParams;
use kube::{Api, Client};
use serde_json::Value;

use super::cx::CheckCx;
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

/// What a Role grants: verb, resource, API group, and the first
/// resourceName when the grant is limited to named objects.
type Grant = (String, String, String, Option<String>);

/// One ServiceAccount's trial (`cluster/rbac/<account>`): what the
/// release's Roles grant it. The asks built from that name the cell's
/// namespace, so they are made at judge time ([`RbacSpec::asks`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RbacSpec {
    pub account: String,
    granted: BTreeSet<Grant>,
}

impl RbacSpec {
    pub fn name(&self) -> String {
        self.account.clone()
    }

    /// What the account must be allowed (every rule its Roles grant, in
    /// the release namespace `ns`) and denied (a fixed list of dangerous
    /// asks not granted by those rules).
    pub fn asks(&self, ns: &str) -> Vec<Ask> {
        asks(&self.granted, ns)
    }
}

/// Every ServiceAccount the release renders, with what its Roles grant.
pub fn derive(m: &Manifests) -> Vec<RbacSpec> {
    m.of_kind("ServiceAccount")
        .map(|sa| RbacSpec {
            account: sa.name.clone(),
            granted: granted(m, &sa.name),
        })
        .collect()
}

/// Asks the API server each of the account's asks in the cell's namespace.
pub async fn judge(s: &RbacSpec, cx: &CheckCx<'_>) -> Verdict {
    check(cx.client, cx.namespace, &s.account, &s.asks(cx.namespace)).await
}

/// The rules of the Roles a RoleBinding gives `sa`.
fn granted(m: &Manifests, sa: &str) -> BTreeSet<Grant> {
    let mut granted: BTreeSet<Grant> = BTreeSet::new();
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
    granted
}

fn asks(granted: &BTreeSet<Grant>, ns: &str) -> Vec<Ask> {
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

#[cfg(test)]
mod tests {
    use super::*;

    const RENDER: &str = r#"
apiVersion: v1
kind: ServiceAccount
metadata: {name: api}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: worker}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: read-config}
rules:
  - {apiGroups: [""], resources: [configmaps], verbs: [get, list]}
  - {apiGroups: [""], resources: [secrets], verbs: [get], resourceNames: [api-token]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: api-read-config}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: read-config}
subjects: [{kind: ServiceAccount, name: api}]
"#;

    fn specs() -> Vec<RbacSpec> {
        derive(&Manifests::parse(RENDER).unwrap())
    }

    #[test]
    fn every_service_account_is_a_trial() {
        let names: Vec<String> = specs().iter().map(RbacSpec::name).collect();
        assert_eq!(names, ["api", "worker"]);
    }

    #[test]
    fn what_a_role_grants_is_asked_allowed_in_the_cells_namespace() {
        let asks = specs()[0].asks("medplum-dev");
        let allowed: Vec<(&str, &str, Option<&str>)> = asks
            .iter()
            .filter(|a| a.allowed)
            .map(|a| (a.verb.as_str(), a.resource.as_str(), a.name.as_deref()))
            .collect();
        assert_eq!(
            allowed,
            [
                ("get", "configmaps", None),
                ("get", "secrets", Some("api-token")),
                ("list", "configmaps", None)
            ]
        );
        assert!(asks
            .iter()
            .filter(|a| a.allowed)
            .all(|a| a.namespace.as_deref() == Some("medplum-dev")));
    }

    #[test]
    fn a_grant_on_one_named_secret_does_not_stop_the_general_get_being_asked_denied() {
        let asks = specs()[0].asks("ns");
        assert!(asks
            .iter()
            .any(|a| !a.allowed && a.verb == "get" && a.resource == "secrets" && a.name.is_none()));
        // Another namespace's secrets and the nodes are always asked denied.
        let elsewhere: Vec<Option<&str>> = asks
            .iter()
            .filter(|a| !a.allowed && a.namespace.as_deref() != Some("ns"))
            .map(|a| a.namespace.as_deref())
            .collect();
        assert_eq!(elsewhere, [Some("kube-system"), None]);
    }

    #[test]
    fn an_account_no_role_binds_is_asked_only_what_it_must_not_do() {
        assert!(specs()[1].asks("ns").iter().all(|a| !a.allowed));
    }
}
