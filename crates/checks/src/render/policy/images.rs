//! Images are pinned: a tag other than `latest`, or a digest. An untagged or
//! `latest` image changes under a running release and cannot be reproduced.

use super::PolicyCx;
use crate::verdict::Verdict;

/// Why an image reference is not pinned, if it is not.
pub fn unpinned(image: &str) -> Option<&'static str> {
    if image.trim().is_empty() {
        return Some("the image is empty");
    }
    if image.contains('@') {
        return None;
    }
    // The tag follows the last ':' after the last '/', so a registry port
    // (`host:5000/app`) is not mistaken for a tag.
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.split_once(':') {
        None => Some("the image has no tag (it means `latest`)"),
        Some((_, "")) => Some("the image tag is empty"),
        Some((_, "latest")) => Some("the image uses the `latest` tag"),
        Some(_) => None,
    }
}

pub fn check(cx: &PolicyCx<'_>) -> Vec<(String, Verdict)> {
    super::per_workload_image(
        cx,
        "every image is pinned to a tag other than latest, or a digest",
        |image| unpinned(image).map(str::to_string),
        |image, problem| format!("{problem}: `{image}`"),
        "set `image.tag` to a released version (the chart's appVersion by default) or pin `image.digest`",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("nginx", true)]
    #[case("nginx:latest", true)]
    #[case("registry:5000/app", true)]
    #[case("registry:5000/app:1.2", false)]
    #[case("app@sha256:abc", false)]
    #[case("medplum/medplum-server:4.3.6", false)]
    fn pinning(#[case] image: &str, #[case] bad: bool) {
        assert_eq!(unpinned(image).is_some(), bad, "{image}");
    }

    #[test]
    fn the_latest_tag_fails_with_the_image_named() {
        let v = super::super::testing::only(
            check,
            &super::super::testing::deployment("      - name: app\n        image: web:latest\n"),
        );
        assert!(v.failed() && v.to_string().contains("`web:latest`"), "{v}");
    }
}
