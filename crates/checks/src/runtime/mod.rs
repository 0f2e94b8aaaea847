//! Runtime tier: checks against a live cluster, over kube-rs watches.

pub mod explain;
pub mod ready;
pub mod view;
pub mod wait;
