//! A production profile runs release images: every image is pinned by
//! digest, or tagged with a full release version, so a node that pulls
//! tomorrow runs what was tested today. The rule, precisely:
//!
//! - a digest (`@sha256:...`) always passes;
//! - otherwise the tag's leading version (`v` allowed) needs three numeric
//!   fields: `7.4.2-alpine`, `v0.15.0`, `3.12.13-management`, `1.2.3-rc1`;
//! - two fields suffice for PostgreSQL (`postgres`, `postgresql`,
//!   `postgis`), whose releases are `major.minor` since 10: `16.4-bookworm`
//!   is a release, `15-alpine` is not;
//! - a date-stamped release (`RELEASE.2024-01-16T16-07-38Z`, `20240116`)
//!   and a commit tag (`sha-1a2b3c4`, a 7-40 hex string with a digit)
//!   pass;
//! - everything else fails: no tag or `latest`, a bare major (`15-alpine`,
//!   `7`, `v2`), a floating minor (`7.2-alpine`), a channel (`stable`,
//!   `alpine`, `main`).
//!
//! Dev profiles may float; the `images` policy still refuses `latest` there.

use super::shipped_images::ImageRef;
use super::PolicyCx;
use crate::verdict::Verdict;

/// Images whose upstream releases are `major.minor`.
const TWO_FIELD_RELEASES: [&str; 3] = ["postgres", "postgresql", "postgis"];

/// Why an image is not a release image, if it is not.
pub fn floating(image: &str) -> Option<String> {
    let r = ImageRef::parse(image);
    if r.digest.is_some_and(|d| !d.is_empty()) {
        return None;
    }
    let Some(tag) = r.tag.filter(|t| !t.is_empty()) else {
        return Some("no tag: it means `latest`, whatever that is on the day of the pull".into());
    };
    if tag == "latest" {
        return Some("the `latest` tag moves with every upstream push".into());
    }
    if is_dated(tag) || is_commit(tag) {
        return None;
    }
    let version = tag.strip_prefix(['v', 'V']).unwrap_or(tag);
    let fields = leading_fields(version);
    let needed = if TWO_FIELD_RELEASES.contains(&r.short_name()) {
        2
    } else {
        3
    };
    if fields >= needed {
        return None;
    }
    Some(match fields {
        0 => format!("tag `{tag}` names a channel, not a release"),
        1 => format!(
            "tag `{tag}` is a bare major version: it moves to every new minor and patch release"
        ),
        _ => format!("tag `{tag}` stops at the minor version: it moves to every new patch release"),
    })
}

/// How many dot-separated numeric fields the tag starts with: `7.4.2-alpine` has 3.
fn leading_fields(version: &str) -> usize {
    let mut n = 0;
    for part in version.split('.') {
        let digits = part.chars().take_while(char::is_ascii_digit).count();
        if digits == 0 {
            break;
        }
        n += 1;
        // A suffix (`2-alpine`, `0rc1`) ends the version.
        if digits < part.len() {
            break;
        }
    }
    n
}

/// `RELEASE.2024-01-16T16-07-38Z`, `2024-01-16`, `20240116`: a release named by its date.
fn is_dated(tag: &str) -> bool {
    let t = tag.strip_prefix("RELEASE.").unwrap_or(tag);
    let b = t.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.len() >= r.end && b[r].iter().all(u8::is_ascii_digit);
    (digits(0..4)
        && b.get(4) == Some(&b'-')
        && digits(5..7)
        && b.get(7) == Some(&b'-')
        && digits(8..10))
        || (digits(0..8) && (b.len() == 8 || !b[8].is_ascii_digit()) && t.starts_with("20"))
}

/// `sha-1a2b3c4` or a bare 7-40 character hex commit id.
fn is_commit(tag: &str) -> bool {
    let h = tag.strip_prefix("sha-").unwrap_or(tag);
    (7..=40).contains(&h.len())
        && h.chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        && h.chars().any(|c| c.is_ascii_digit())
        && h.chars().any(|c| c.is_ascii_alphabetic())
}

pub fn check(cx: &PolicyCx<'_>) -> Vec<(String, Verdict)> {
    if !cx.prod {
        return Vec::new();
    }
    super::per_workload_image(
        cx,
        "every prod image is a full release version (major.minor.patch; major.minor for PostgreSQL) or a digest",
        |image| floating(image).map(|why| why.to_string()),
        |image, why| format!("`{image}` is not a release image in a production profile: {why}"),
        "pin the full release (e.g. `7.4.2-alpine`, `16.4-bookworm` for PostgreSQL) \
         or a digest (`image.digest`) in the prod values",
    )
}

#[cfg(test)]
mod tests {
    use super::super::testing::{deployment, only};
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("docker.io/library/postgres:15-alpine", true)]
    #[case("docker.io/library/redis:7-alpine", true)]
    #[case("redis:7.2-alpine", true)]
    #[case("redis", true)]
    #[case("redis:latest", true)]
    #[case("app:v2", true)]
    #[case("nginx:stable", true)]
    #[case("nginx:alpine", true)]
    #[case("docker.io/redis:7.4.2-alpine", false)]
    #[case("quay.io/prometheuscommunity/postgres-exporter:v0.15.0", false)]
    #[case("docker.io/library/postgres:16.4-bookworm", false)]
    #[case("docker.io/library/postgres:17.2", false)]
    #[case("rabbitmq:3.12.13-management", false)]
    #[case("docker.io/minio/minio:RELEASE.2024-01-16T16-07-38Z", false)]
    #[case("app:sha-1a2b3c4", false)]
    #[case("redis:7@sha256:0123abcd", false)]
    #[case("registry:5000/app:1.2.3", false)]
    fn release_images_pass_and_floating_ones_fail(#[case] image: &str, #[case] bad: bool) {
        assert_eq!(
            floating(image).is_some(),
            bad,
            "{image}: {:?}",
            floating(image)
        );
    }

    #[test]
    fn a_bare_major_tag_in_prod_fails_with_the_image_and_why() {
        let v = only(
            check,
            &deployment("      - name: cache\n        image: docker.io/library/redis:7-alpine\n"),
        );
        assert!(v.failed());
        let f = v.findings().next().unwrap();
        assert!(
            f.problem.contains("`docker.io/library/redis:7-alpine`"),
            "{f:?}"
        );
        assert!(f.problem.contains("bare major version"), "{f:?}");
        assert!(f.fix.contains("digest"), "{f:?}");
    }
}
