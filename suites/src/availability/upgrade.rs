//! The release upgrade a rollout goes through: the installed release
//! upgraded with the install's own chart and values plus one new
//! `global.rolloutToken` (`--set-string`), which the vitals charts render
//! as the `vitals.dev/rollout` pod annotation of every Deployment
//! (vitals-common's `vitals.rollout.annotation`). Which Deployments that
//! rolls is read from a render with the token, so a user's chart that
//! offers no such value is known before anything is applied, and its
//! Deployments are patched instead (and the verdict says so).

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use vitals_checks::manifest::ParseError;
use vitals_checks::render::openapi::OpenApi;
use vitals_checks::runtime::availability::rollout::{self, TOKEN_VALUE};
use vitals_checks::Manifests;
use vitals_helm::{Chart, Helm, InstallOpts, TemplateOpts};

use crate::render::Cell;

/// How long helm may take over the upgrade's hooks; the rollout itself
/// is watched by the harness, as the install is.
const UPGRADE_TIMEOUT: Duration = Duration::from_secs(300);

/// The installed release: helm and the cell exactly as installed (the
/// cluster cell, test overlay included).
#[derive(Clone, Copy)]
pub struct Release<'a> {
    pub helm: &'a Helm,
    pub cell: &'a Cell,
}

/// Why the chart's render with a token could not say what it rolls.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("the chart does not render with `--set-string {TOKEN_VALUE}=<token>` (its values schema may refuse the key)")]
    Render(#[source] vitals_helm::Error),
    #[error("the chart's render with `--set-string {TOKEN_VALUE}=<token>`")]
    Parse(#[source] ParseError),
}

impl Release<'_> {
    fn chart(&self) -> Result<Chart, vitals_helm::Error> {
        Chart::open(&self.cell.suite.chart_dir)
    }

    /// The Deployments a `helm upgrade` with `token` rolls: those whose
    /// pod template carries it in the render (same chart, values and API
    /// versions as the install, plus the token).
    pub fn offered(&self, token: &str) -> Result<BTreeSet<String>, TokenError> {
        let chart = self.chart().map_err(TokenError::Render)?;
        self.helm
            .dependency_build(&chart)
            .map_err(TokenError::Render)?;
        let opts = self.cell.suite.api_versions.iter().fold(
            TemplateOpts::default()
                .kube_version(OpenApi::pinned().version().trim_start_matches('v'))
                .set_string(TOKEN_VALUE, token),
            |o, api| o.api_version(api),
        );
        let text = self
            .helm
            .template(
                &chart,
                &self.cell.suite.release,
                &self.cell.namespace(),
                &self.cell.profile.values,
                &opts,
            )
            .map_err(TokenError::Render)?;
        let m = Manifests::parse(&text).map_err(TokenError::Parse)?;
        Ok(rollout::offered(&m, token))
    }

    /// `helm upgrade` of the installed release with the install's values
    /// and the new token. Blocking (helm is a process): call it off the
    /// async workers.
    pub fn upgrade(&self, kubeconfig: &Path, token: &str) -> Result<(), vitals_helm::Error> {
        let chart = self.chart()?;
        let opts = InstallOpts::default()
            .timeout(UPGRADE_TIMEOUT)
            .kubeconfig(kubeconfig)
            .set_string(TOKEN_VALUE, token);
        self.helm.upgrade_install(
            &chart,
            &self.cell.suite.release,
            &self.cell.namespace(),
            &self.cell.profile.values,
            &opts,
        )
    }
}

/// Why a Deployment is not rolled through helm, in the evidence's words.
pub fn not_offered(offer: &Result<BTreeSet<String>, TokenError>, deployment: &str) -> String {
    match offer {
        Ok(_) => format!(
            "the chart renders no `{}` annotation from `--set-string {TOKEN_VALUE}=<token>` on Deployment/{deployment}'s pod template (the vitals charts do, through vitals-common's `vitals.rollout.annotation`)",
            rollout::ANNOTATION
        ),
        Err(e) => vitals_checks::runtime::chain(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chart_without_the_token_is_named_with_how_to_offer_it() {
        let why = not_offered(&Ok(BTreeSet::new()), "web");
        assert!(why.contains("Deployment/web"), "{why}");
        assert!(why.contains("--set-string global.rolloutToken"), "{why}");
        assert!(why.contains("vitals.rollout.annotation"), "{why}");
    }

    #[test]
    fn a_schema_that_refuses_the_token_says_so_with_helms_words() {
        let offer = Err(TokenError::Render(vitals_helm::Error::Exited {
            argv: "helm template web ./web".into(),
            code: 1,
            stderr: "values don't meet the specifications of the schema(s): global: Additional property rolloutToken is not allowed".into(),
        }));
        let why = not_offered(&offer, "web");
        assert!(why.contains("may refuse the key"), "{why}");
        assert!(why.contains("Additional property rolloutToken"), "{why}");
    }
}
