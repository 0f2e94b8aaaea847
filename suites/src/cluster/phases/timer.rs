//! The phase timer of one install: each phase measured from the end of the
//! last, and what the cell is doing shown as it goes (the progress sink).
//! Shared by `install` and `previous`, the two phases that run helm.

use vitals_checks::record::Phase;

/// Phase timings of one install, each measured from the end of the last.
pub(crate) struct Phases {
    cell: String,
    mark: std::time::Instant,
    pub(crate) done: Vec<Phase>,
}

impl Phases {
    pub(crate) fn new(cell: &str) -> Phases {
        crate::events::phase(cell, Some("preparing"));
        Phases {
            cell: cell.to_string(),
            mark: std::time::Instant::now(),
            done: Vec::new(),
        }
    }
}

impl Drop for Phases {
    fn drop(&mut self) {
        crate::events::phase(&self.cell, None);
    }
}

impl Phases {
    pub(crate) fn end(&mut self, name: &str) {
        crate::events::phase(&self.cell, Some(&format!("{name} done")));
        let now = std::time::Instant::now();
        self.done.push(Phase {
            name: name.into(),
            duration_ms: (now - self.mark).as_millis() as u64,
        });
        self.mark = now;
    }
}
