//! Runtime tier: checks against a live cluster, over kube-rs watches.

pub mod agent_pod;
pub mod create;
pub mod availability;
pub mod cronjobs;
pub mod dns;
pub mod exec;
pub mod explain;
pub mod hpa;
pub mod logs;
pub mod netpol;
pub mod persistence;
pub mod probes;
pub mod pvcs;
pub mod rbac;
pub mod ready;
pub mod restarts;
pub mod view;
pub mod wait;
