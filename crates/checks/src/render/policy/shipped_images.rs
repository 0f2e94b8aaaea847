//! A shipped profile references only images a user can pull: none of the
//! harness's own builds (`vitals/*`) and no registry that only exists on a
//! test machine (`*.local`, `localhost`). Those belong in the cluster tier's
//! test overlay (`suites/overlays/<chart>.yaml`); the render judged here is
//! the profile's own, without the overlay, so a chart whose defaults point
//! at `vitals/agent` fails here while the overlay may use it freely. Every
//! workload counts, `helm test` pods and hook Jobs included: on a real
//! cluster each one is an ImagePullBackOff.

use super::PolicyCx;
use crate::verdict::Verdict;

/// An image reference split the way a container runtime reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef<'a> {
    /// The registry host (with port), when the reference names one.
    pub registry: Option<&'a str>,
    /// The repository path within the registry: `library/postgres`, `vitals/agent`.
    pub repository: &'a str,
    pub tag: Option<&'a str>,
    pub digest: Option<&'a str>,
}

impl<'a> ImageRef<'a> {
    pub fn parse(image: &'a str) -> ImageRef<'a> {
        let image = image.trim();
        let (name, digest) = match image.split_once('@') {
            Some((n, d)) => (n, Some(d)),
            None => (image, None),
        };
        // The first segment is a registry only when it looks like a host:
        // `docker.io/x`, `host:5000/x`, `localhost/x`; `vitals/agent` is a
        // Docker Hub namespace.
        let (registry, path) = match name.split_once('/') {
            Some((first, rest))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (Some(first), rest)
            }
            _ => (None, name),
        };
        // The tag follows the last ':' after the last '/'.
        let last = path.rsplit('/').next().unwrap_or(path);
        let (repository, tag) = match last.split_once(':') {
            Some((_, tag)) => (&path[..path.len() - tag.len() - 1], Some(tag)),
            None => (path, None),
        };
        ImageRef {
            registry,
            repository,
            tag,
            digest,
        }
    }

    /// The repository's last segment: `postgres` for `docker.io/library/postgres`.
    pub fn short_name(&self) -> &'a str {
        self.repository
            .rsplit('/')
            .next()
            .unwrap_or(self.repository)
    }
}

/// Why an image exists only on a test machine, if it does.
pub fn test_only(image: &str) -> Option<String> {
    let r = ImageRef::parse(image);
    let docker_hub = matches!(
        r.registry,
        None | Some("docker.io" | "index.docker.io" | "registry-1.docker.io")
    );
    if docker_hub && r.repository.starts_with("vitals/") {
        return Some(
            "`vitals/*` images are the harness's own local builds, pulled from nowhere".into(),
        );
    }
    let host = r.registry?.split(':').next().unwrap_or_default();
    if host.ends_with(".local") {
        return Some(format!(
            "registry `{host}` is a `.local` name, reachable only on a test machine"
        ));
    }
    if host == "localhost" || host.starts_with("127.") {
        return Some(format!(
            "registry `{host}` is the machine itself: every node would pull from its own loopback"
        ));
    }
    None
}

pub fn check(cx: &PolicyCx<'_>) -> Vec<(String, Verdict)> {
    super::per_workload_image(
        cx,
        "the profile references only images a user can pull (no harness or local-registry image)",
        |image| test_only(image).map(|why| why.to_string()),
        |image, why| format!("`{image}` exists only in the test harness: {why}"),
        "default to the image a user pulls (the upstream or the chart's documented build); \
         point at local builds in the test overlay (suites/overlays/<chart>.yaml) only",
    )
}

#[cfg(test)]
mod tests {
    use super::super::testing::{deployment, only};
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("vitals/agent:0.1.0", true)]
    #[case("docker.io/vitals/agent:0.1.0", true)]
    #[case("registry.local/sample-web:1.0.0", true)]
    #[case("localhost:5000/app:1.0.0", true)]
    #[case("ghcr.io/vitals/agent:0.1.0", false)]
    #[case("docker.io/library/postgres:16.4", false)]
    #[case("vitalsoft/app:1.0.0", false)]
    #[case("quay.io/prometheuscommunity/postgres-exporter:v0.15.0", false)]
    fn harness_and_local_registry_images_are_test_only(#[case] image: &str, #[case] bad: bool) {
        assert_eq!(test_only(image).is_some(), bad, "{image}");
    }

    #[test]
    fn references_split_into_registry_repository_tag_and_digest() {
        let r = ImageRef::parse("host:5000/team/app:1.2.3@sha256:abc");
        assert_eq!(
            (r.registry, r.repository, r.tag, r.digest),
            (
                Some("host:5000"),
                "team/app",
                Some("1.2.3"),
                Some("sha256:abc")
            )
        );
        assert_eq!(ImageRef::parse("postgres").tag, None);
        assert_eq!(
            ImageRef::parse("docker.io/library/postgres:15").short_name(),
            "postgres"
        );
    }

    #[test]
    fn a_helm_test_pod_on_the_harness_agent_fails_with_the_image_named() {
        let v = only(check, "apiVersion: v1\nkind: Pod\nmetadata:\n  name: t\n  annotations: {helm.sh/hook: test}\nspec:\n  containers: [{name: t, image: \"vitals/agent:0.1.0\"}]\n");
        assert!(v.failed());
        let f = v.findings().next().unwrap();
        assert_eq!(f.field, "spec.containers[0].image");
        assert!(
            f.problem
                .contains("`vitals/agent:0.1.0` exists only in the test harness"),
            "{f:?}"
        );
    }

    #[test]
    fn an_upstream_image_passes() {
        let v = only(
            check,
            &deployment("      - name: app\n        image: docker.io/library/postgres:16.4\n"),
        );
        assert!(!v.failed(), "{v}");
    }
}
