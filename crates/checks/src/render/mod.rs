//! Render tier: what can be proven from `helm template` output alone.
//! `openapi` and `schema` validate shapes; `policy` holds one module per
//! policy family; `invariants` evaluates what a suite spec adds.

pub mod docs;
pub mod invariants;
pub mod openapi;
pub mod policy;
pub mod schema;
