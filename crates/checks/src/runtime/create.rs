//! Creating shared objects so that two trials (threads or processes) asking
//! at once both succeed: "create, and if it already exists, use that one".
//!
//! A check-then-create (`get_opt` is None, so `create`) races: on a fresh
//! cluster two trials of a cold run both saw `vitals-outsider` missing and
//! one of them failed on `AlreadyExists (409)`. A warm cluster always had
//! the namespace, so warm runs never saw it. Every shared object the
//! harness makes (namespaces, agent pods, policies, Secrets) goes through
//! [`create_or_get`].

use std::fmt::Debug;

use kube::api::PostParams;
use kube::{Api, Resource};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// Whether the API server refused a create because the object exists: the
/// state asked for, made by someone else a moment earlier.
pub fn already_exists(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.is_already_exists() || s.code == 409)
}

/// Whether the object was not there (a delete of something already gone).
pub fn not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.is_not_found() || s.code == 404)
}

/// Creates `obj`, or returns the one of that name that exists already.
/// What exists is not changed: a cell's namespace carries labels (PSS
/// enforcement) that an agent pod's namespace create must not touch.
pub async fn create_or_get<K>(api: &Api<K>, obj: &K) -> Result<K, kube::Error>
where
    K: Resource + Clone + DeserializeOwned + Serialize + Debug,
{
    match api.create(&PostParams::default(), obj).await {
        Ok(o) => Ok(o),
        Err(e) if already_exists(&e) => {
            let name = obj.meta().name.clone().unwrap_or_default();
            api.get(&name).await
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::core::Status;

    fn api_error(code: u16, reason: &str) -> kube::Error {
        kube::Error::Api(Status::failure("x", reason).with_code(code).boxed())
    }

    #[test]
    fn a_create_refused_because_the_object_exists_is_the_state_asked_for() {
        // The message of the cold-cluster failure: namespaces "vitals-outsider" already exists.
        assert!(already_exists(&api_error(409, "AlreadyExists")));
        assert!(!already_exists(&api_error(403, "Forbidden")));
        assert!(!already_exists(&api_error(404, "NotFound")));
    }

    #[test]
    fn a_delete_of_something_gone_is_not_an_error() {
        assert!(not_found(&api_error(404, "NotFound")));
        assert!(!not_found(&api_error(409, "AlreadyExists")));
    }
}
