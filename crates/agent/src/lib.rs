//! vitals in-cluster agent: one static binary (`agent`) that stands in for an
//! app (`agent serve`) and is the client pod for DNS, TCP, HTTP and load
//! checks. The harness depends on this crate for [`report`], the typed JSON
//! lines every subcommand prints.
//!
//! | command | prints | exit codes |
//! | --- | --- | --- |
//! | `agent serve [...]` | one [`report::ServeStarted`] line | 0 after SIGTERM, 4 bind failure |
//! | `agent dns --name X [--type A\|AAAA\|SRV] [--timeout 5s]` | [`report::DnsReport`] | 0 answered, 1 NXDOMAIN, 2 timeout, 3 no records, 4 error |
//! | `agent tcp --host H --port P [--timeout 2s]` | [`report::TcpReport`] | 0 connected, 1 refused, 2 timeout, 3 unresolvable, 4 error |
//! | `agent http-get --url U [--expect 200] [--timeout 5s]` | [`report::HttpGetReport`] | as `tcp`, plus 5 unexpected status |
//! | `agent load --url U --rate 50 --duration 30s --concurrency 8` | [`report::LoadReport`] | 0 when the run completes |
//! | `agent wait-tcp --host H --port P --timeout 120s` | [`report::WaitTcpReport`] | 0 connected, 2 timeout |
//!
//! Bad usage exits 64 (clap's own code, 2, would read as a timeout); `--help` exits 0.
#![forbid(unsafe_code)]

pub mod cli;
pub mod client;
pub mod net;
pub mod parse;
pub mod report;
pub mod serve;
pub mod stats;
