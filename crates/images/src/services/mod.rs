//! One smoke test per image: each starts its image (and what it needs
//! beside it) and proves it with the client the charts' workloads use.

pub(crate) mod agent;
pub(crate) mod exporters;
pub(crate) mod minio;
pub(crate) mod postgres;
pub(crate) mod rabbitmq;
pub(crate) mod redis;
