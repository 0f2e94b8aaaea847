//! Waiting without sleeping: a watch on the object, re-judged whenever the
//! object or anything else in its namespace changes (a pod entering
//! CrashLoopBackOff does not touch its Deployment, but must end the wait at
//! once). Every wait has a deadline, and a timeout says what it last saw.

use std::fmt::Debug;
use std::time::Duration;

use futures::StreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Resource};
use serde::de::DeserializeOwned;
use tokio::sync::watch;

/// A judge's view of the object right now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    Done(String),
    /// Still converging; the text is the state a timeout would report.
    Pending(String),
    /// Will not converge without a change (ImagePullBackOff, a missing
    /// StorageClass, a failed Job): stop now, with the chain of causes.
    Failed(String),
}

#[derive(Debug, thiserror::Error)]
pub enum WaitError {
    #[error("{object}: not ready after {secs}s; last seen: {last}")]
    Timeout {
        object: String,
        secs: u64,
        last: String,
    },
    #[error("{object}: {cause}")]
    Terminal { object: String, cause: String },
    #[error("{object}: the watch failed")]
    Watch {
        object: String,
        #[source]
        source: watcher::Error,
    },
}

/// The distinct states a wait went through, for its timeout message: the
/// last one alone can hide the cause. An HPA whose target requests no cpu
/// says so, then, while metrics-server misses a scrape, only "no metrics
/// returned"; a timeout that showed only the latter would blame the
/// cluster for the chart's defect.
#[derive(Default)]
struct States {
    seen: Vec<String>,
}

impl States {
    /// Earlier states a timeout names besides the last.
    const EARLIER: usize = 3;

    fn saw(&mut self, s: String) {
        if self.seen.last() != Some(&s) {
            self.seen.retain(|x| x != &s);
            self.seen.push(s);
        }
    }

    fn report(&self) -> String {
        let Some((last, before)) = self.seen.split_last() else {
            return String::new();
        };
        let earlier: Vec<&str> = before
            .iter()
            .rev()
            .take(Self::EARLIER)
            .map(String::as_str)
            .collect();
        if earlier.is_empty() {
            last.clone()
        } else {
            format!("{last} (earlier: {})", earlier.join("; "))
        }
    }
}

/// Waits until `judge` says Done or Failed, or the deadline passes.
/// `nudge` ticks whenever related objects change (see `NamespaceView`).
pub async fn until<K>(
    api: Api<K>,
    object: &str,
    name: &str,
    timeout: Duration,
    mut nudge: watch::Receiver<u64>,
    mut judge: impl FnMut(Option<&K>) -> Progress,
) -> Result<String, WaitError>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
{
    let cfg = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let mut stream = watcher::watcher(api, cfg).boxed();
    let deadline = tokio::time::Instant::now() + timeout;
    let mut current: Option<K> = None;
    let mut nudge_alive = true;
    let mut states = States::default();
    loop {
        let progress = judge(current.as_ref());
        match progress {
            Progress::Done(s) => return Ok(s),
            Progress::Failed(cause) => {
                return Err(WaitError::Terminal {
                    object: object.to_string(),
                    cause,
                })
            }
            Progress::Pending(s) => states.saw(s),
        }
        tokio::select! {
            ev = stream.next() => match ev {
                Some(Ok(Event::Apply(o) | Event::InitApply(o))) => current = Some(o),
                Some(Ok(Event::Delete(_))) => current = None,
                Some(Ok(Event::Init | Event::InitDone)) => {}
                Some(Err(source)) => return Err(WaitError::Watch { object: object.to_string(), source }),
                None => return Err(WaitError::Timeout { object: object.to_string(), secs: timeout.as_secs(), last: states.report() }),
            },
            changed = nudge.changed(), if nudge_alive => {
                // A closed view leaves the object's own watch to wake us.
                nudge_alive = changed.is_ok();
            }
            _ = tokio::time::sleep_until(deadline) => {
                return Err(WaitError::Timeout { object: object.to_string(), secs: timeout.as_secs(), last: states.report() });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::States;

    #[test]
    fn a_timeout_names_the_earlier_states_not_only_the_last() {
        let mut s = States::default();
        for x in [
            "no ScalingActive condition yet",
            "missing request for cpu",
            "missing request for cpu",
            "no metrics returned",
        ] {
            s.saw(x.to_string());
        }
        assert_eq!(
            s.report(),
            "no metrics returned (earlier: missing request for cpu; no ScalingActive condition yet)"
        );
    }

    #[test]
    fn a_state_seen_again_is_named_once_at_its_latest_place() {
        let mut s = States::default();
        for x in ["a", "b", "a", "c", "d", "e"] {
            s.saw(x.to_string());
        }
        assert_eq!(s.report(), "e (earlier: d; c; a)");
    }
}
