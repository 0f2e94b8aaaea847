//! What an overlay changed within the rules: counted as the rules absorb
//! it, and named in the pass message so a reader sees what the trial ran.

/// What the overlay changed within the rules, for the pass message.
#[derive(Debug, Default)]
pub(super) struct Allowed {
    pub(super) images: usize,
    pub(super) pull_policies: usize,
    pub(super) commands: usize,
    pub(super) probe_commands: usize,
    pub(super) resources: usize,
    pub(super) env_added: usize,
    pub(super) checksums: usize,
    pub(super) secret_values: usize,
    pub(super) storage_classes: usize,
    pub(super) hpa_behavior: usize,
    pub(super) replicas: Vec<String>,
    pub(super) hpa_max: Vec<String>,
    pub(super) derived_env: Vec<String>,
}

impl Allowed {
    /// `None` when the overlay changed nothing within the rules.
    pub(super) fn summary(&self) -> Option<String> {
        let counts = [
            ("images", self.images),
            ("image pull policies", self.pull_policies),
            ("commands", self.commands),
            ("exec probe commands", self.probe_commands),
            ("resources", self.resources),
            ("env vars added", self.env_added),
            ("checksum annotations", self.checksums),
            ("Secret values", self.secret_values),
            ("storage classes", self.storage_classes),
            ("HPA behavior", self.hpa_behavior),
        ];
        let mut parts: Vec<String> = counts
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(what, n)| format!("{what}: {n}"))
            .collect();
        for (what, list) in [
            ("replicas", &self.replicas),
            ("HPA maxReplicas", &self.hpa_max),
            ("env the chart derives from the caps", &self.derived_env),
        ] {
            if !list.is_empty() {
                parts.push(format!("{what}: {}", list.join(", ")));
            }
        }
        (!parts.is_empty()).then(|| parts.join(", "))
    }
}
