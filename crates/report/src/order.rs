//! The order of names the records list in order (a cell's install phases,
//! the tiers a run went through), so the report needs no list of known
//! names: a tier or phase the runner adds shows up in its place unaided.

/// Every name of `sequences`, each sequence's order kept: a name not seen
/// yet goes right after its predecessor in the sequence that first shows
/// it (at the front when it has none). `[prepare, install, ready]` and
/// `[prepare, queued, install, ready]` give `[prepare, queued, install,
/// ready]`. Where sequences disagree the one read first wins.
pub fn merged<'a, S>(sequences: impl IntoIterator<Item = S>) -> Vec<&'a str>
where
    S: IntoIterator<Item = &'a str>,
{
    let mut out: Vec<&'a str> = Vec::new();
    for seq in sequences {
        let mut after: Option<usize> = None;
        for name in seq {
            let at = match out.iter().position(|n| *n == name) {
                Some(i) => i,
                None => {
                    let i = after.map_or(0, |a| a + 1);
                    out.insert(i, name);
                    i
                }
            };
            // A name already placed earlier than the predecessor (a
            // disagreement) does not pull later names back before it.
            after = Some(after.map_or(at, |a| a.max(at)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::merged;

    #[test]
    fn names_new_to_a_sequence_go_after_their_predecessor() {
        let got = merged([
            vec!["prepare", "queued", "install", "ready"],
            vec![
                "prepare",
                "queued",
                "install-previous",
                "write-data",
                "install",
                "ready",
            ],
            vec!["prepare", "dependencies", "install", "ready", "extra"],
        ]);
        assert_eq!(
            got,
            [
                "prepare",
                "dependencies",
                "queued",
                "install-previous",
                "write-data",
                "install",
                "ready",
                "extra"
            ]
        );
    }

    #[test]
    fn the_first_sequence_wins_a_disagreement_and_nothing_is_lost() {
        let got = merged([vec!["a", "b", "c"], vec!["c", "b", "d"], vec!["e"]]);
        assert_eq!(got, ["e", "a", "b", "c", "d"]);
    }
}
