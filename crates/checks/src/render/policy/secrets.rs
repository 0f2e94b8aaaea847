//! No credential in plain text in a production profile: prod values point at
//! an `existingSecret`. Reported per key with the file that set it.

use super::PolicyCx;
use crate::values::plaintext_secrets;
use crate::verdict::{Finding, Verdict};

pub fn check(cx: &PolicyCx<'_>) -> Vec<(String, Verdict)> {
    if !cx.prod {
        return Vec::new();
    }
    let merged = cx.values.merged();
    let findings = plaintext_secrets(&merged)
        .into_iter()
        .map(|s| {
            let path: Vec<String> = s
                .key
                .split(' ')
                .next()
                .unwrap_or_default()
                .split('.')
                .map(String::from)
                .collect();
            let file = cx
                .values
                .origin(&path)
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "values".into());
            Finding {
                object: format!("`{file}`"),
                field: s.key,
                problem: "a credential in plain text".into(),
                fix: "create the Secret out of band and set the chart's `existingSecret` instead"
                    .into(),
            }
        })
        .collect();
    vec![(
        "values".into(),
        Verdict::from_findings(
            "prod values",
            "no credential in plain text in prod values",
            findings,
        ),
    )]
}
