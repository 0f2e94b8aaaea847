//! The page: header totals, the grid, failures to drill into, HPA charts,
//! request streams through disruption,
//! install phases with their overlays, skips, and what could not be read.
//! One self-contained file (inline CSS, SVG and a few lines of JS) so it
//! opens from a CI artifact download or a laptop without network.

use std::path::{Path, PathBuf};

use crate::error::{write_file, Error};
use crate::load::Inputs;

/// Writing to a `String` cannot fail; this keeps that out of every line.
macro_rules! w {
    ($dst:expr, $($arg:tt)*) => {{
        use ::std::fmt::Write as _;
        let _ = write!($dst, $($arg)*);
    }};
}

mod charts;
mod failures;
mod head;
mod installs;
mod links;
mod overview;
mod page;
mod style;
mod testing;

pub use links::relative_href;
pub use page::failure_anchor;

use page::Page;
use style::JS;

/// from `inputs`. Bundle links are relative to `path`'s directory.
pub fn write_report(inputs: &Inputs, path: &Path) -> Result<(), Error> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir).map_err(|source| Error::Write {
        path: dir.clone(),
        source,
    })?;
    let generated = chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string();
    write_file(path, render(inputs, &dir, &generated).as_bytes())
}

/// The page for `inputs`, as if written into `out_dir` (which must exist
/// for bundle links to be made relative to it).
pub fn render(inputs: &Inputs, out_dir: &Path, generated: &str) -> String {
    let page = Page::new(inputs, out_dir);
    let mut s = String::with_capacity(256 * 1024);
    page.head(&mut s);
    page.header(&mut s, generated);
    s.push_str("<main>");
    page.grid(&mut s);
    page.failures(&mut s);
    page.timelines(&mut s);
    page.traffic(&mut s);
    page.installs(&mut s);
    page.skips(&mut s);
    s.push_str("</main>");
    page.footer(&mut s);
    w!(s, "<script>{JS}</script></body></html>\n");
    s
}
