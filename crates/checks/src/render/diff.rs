//! Field-by-field differences between two JSON documents, each named by
//! its path (`spec.template.spec.containers[0].image`). The overlay check
//! reports what a test overlay changed in a render; the upgrade tier names
//! the immutable StatefulSet fields an upgrade would change. One walk
//! serves both, so the two name a field the same way.

use serde_json::Value;

/// How one field differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change<'a> {
    /// Only the first document has the field.
    Removed(&'a Value),
    /// Only the second document has the field.
    Added(&'a Value),
    /// Both have it, with other values (or values of another type).
    Changed { from: &'a Value, to: &'a Value },
}

/// One difference: where, and what changed there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference<'a> {
    /// The field's path below `base`; `base` itself (often "") when the
    /// documents differ at the top.
    pub path: String,
    pub change: Change<'a>,
}

/// Every difference between `from` and `to`, in path order. Maps are
/// compared key by key and arrays index by index, so a longer array shows
/// its extra items as added (or removed), not as one changed array; any
/// other pair of values that differs is one change. `base` is the path of
/// the two documents themselves ("" at the top, or, say, "spec").
pub fn diff<'a>(base: &str, from: &'a Value, to: &'a Value) -> Vec<Difference<'a>> {
    let mut out = Vec::new();
    walk(base, from, to, &mut out);
    out
}

fn walk<'a>(path: &str, from: &'a Value, to: &'a Value, out: &mut Vec<Difference<'a>>) {
    // One side of a map key or an array index: both present walk on, one
    // present is a removal or an addition.
    fn side<'a>(
        path: String,
        x: Option<&'a Value>,
        y: Option<&'a Value>,
        out: &mut Vec<Difference<'a>>,
    ) {
        let change = match (x, y) {
            (Some(x), Some(y)) => return walk(&path, x, y, out),
            (Some(x), None) => Change::Removed(x),
            (None, Some(y)) => Change::Added(y),
            (None, None) => return,
        };
        out.push(Difference { path, change });
    }
    match (from, to) {
        (Value::Object(a), Value::Object(b)) => {
            let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for k in keys {
                side(join(path, k), a.get(k), b.get(k), out);
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            for i in 0..a.len().max(b.len()) {
                side(format!("{path}[{i}]"), a.get(i), b.get(i), out);
            }
        }
        _ if from == to => {}
        _ => out.push(Difference {
            path: path.to_string(),
            change: Change::Changed { from, to },
        }),
    }
}

/// `spec.template`, `metadata.annotations["checksum/config"]`: keys that
/// are not plain words are quoted so the path reads unambiguously.
pub fn join(path: &str, key: &str) -> String {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    match (path.is_empty(), plain) {
        (true, true) => key.to_string(),
        (false, true) => format!("{path}.{key}"),
        (_, false) => format!("{path}[{key:?}]"),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// The differences as `path: change` lines, for readable assertions.
    fn lines(base: &str, from: &Value, to: &Value) -> Vec<String> {
        diff(base, from, to)
            .into_iter()
            .map(|d| match d.change {
                Change::Removed(v) => format!("{}: removed {v}", d.path),
                Change::Added(v) => format!("{}: added {v}", d.path),
                Change::Changed { from, to } => format!("{}: {from} -> {to}", d.path),
            })
            .collect()
    }

    #[test]
    fn equal_documents_have_no_differences() {
        let doc = json!({"spec": {"replicas": 2, "ports": [80, 443]}});
        assert!(diff("", &doc, &doc.clone()).is_empty());
    }

    #[test]
    fn a_changed_leaf_is_named_by_its_path_below_the_base() {
        let from = json!({"selector": {"matchLabels": {"c": "db"}}});
        let to = json!({"selector": {"matchLabels": {"c": "store"}}});
        assert_eq!(
            lines("spec", &from, &to),
            ["spec.selector.matchLabels.c: \"db\" -> \"store\""]
        );
        assert_eq!(
            lines("", &from, &to),
            ["selector.matchLabels.c: \"db\" -> \"store\""]
        );
    }

    #[test]
    fn keys_only_one_side_has_are_removed_or_added_in_key_order() {
        let from = json!({"b": 1, "d": {"x": true}});
        let to = json!({"a": [1], "b": 1, "c": null});
        assert_eq!(
            lines("", &from, &to),
            ["a: added [1]", "c: added null", "d: removed {\"x\":true}"]
        );
    }

    #[test]
    fn arrays_are_compared_item_by_item_and_extra_items_are_added_or_removed() {
        let from = json!({"env": [{"name": "A"}, {"name": "B"}]});
        let to = json!({"env": [{"name": "Z"}]});
        assert_eq!(
            lines("", &from, &to),
            [
                "env[0].name: \"A\" -> \"Z\"",
                "env[1]: removed {\"name\":\"B\"}"
            ]
        );
        assert_eq!(lines("", &json!([1]), &json!([1, 2])), ["[1]: added 2"]);
    }

    #[test]
    fn a_value_of_another_type_is_one_change_not_a_walk() {
        assert_eq!(
            lines("spec", &json!({"x": {"y": 1}}), &json!({"x": [1]})),
            ["spec.x: {\"y\":1} -> [1]"]
        );
        assert_eq!(lines("", &json!(1), &json!("1")), [": 1 -> \"1\""]);
    }

    #[test]
    fn keys_that_are_not_plain_words_are_quoted() {
        let from = json!({"annotations": {"checksum/config": "a"}});
        let to = json!({"annotations": {"checksum/config": "b"}});
        assert_eq!(
            lines("metadata", &from, &to),
            ["metadata.annotations[\"checksum/config\"]: \"a\" -> \"b\""]
        );
        assert_eq!(
            join("", "app.kubernetes.io/name"),
            "[\"app.kubernetes.io/name\"]"
        );
        assert_eq!(join("", ""), "[\"\"]");
        assert_eq!(join("", "spec"), "spec");
    }
}
