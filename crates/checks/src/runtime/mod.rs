//! Runtime tier: checks against a live cluster, over kube-rs watches.

pub mod agent_pod;
pub mod dns;
pub mod exec;
pub mod explain;
pub mod hpa;
pub mod netpol;
pub mod probes;
pub mod pvcs;
pub mod rbac;
pub mod ready;
pub mod view;
pub mod wait;
