//! Render tier: what can be proven from `helm template` output alone.
//! `openapi` and `schema` validate shapes; `policy` holds one module per
//! policy family; `diff` names the fields two renders differ in;
//! `invariants` evaluates what a suite spec adds; `overlay`
//! proves the cluster tier's test overlay leaves the profile as it is;
//! `promises` that the README's seed-promise table names rendered objects.

pub mod diff;
pub mod docs;
pub mod invariants;
pub mod openapi;
pub mod overlay;
pub mod policy;
pub mod promises;
pub mod schema;

/// The key a JSON Schema `additionalProperties: false` error rejects:
/// "Additional properties are not allowed ('foo' was unexpected)".
fn unexpected_key(message: &str) -> Option<String> {
    let start = message.find("('")? + 2;
    let end = message[start..].find('\'')? + start;
    message
        .contains("not allowed")
        .then(|| message[start..end].to_string())
}
