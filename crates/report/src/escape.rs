//! Text made safe for the page: HTML escaping and element ids. A leaf
//! module, so the page (`html`), the grid and the charts (`svg`) share it
//! without depending on each other.

use std::fmt::Write;

/// Escapes text for element content and quoted attribute values alike.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// An element id that reads like the trial name in the address bar
/// (`f/local/medplum/dev/render/lint`) and needs no escaping in a URL
/// fragment. Injective: `_` escapes itself and every other character
/// becomes `_XX` (hex of its UTF-8 bytes).
pub fn slug(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '/' | ':' | '~') {
            out.push(c);
        } else {
            let mut buf = [0; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                let _ = write!(out, "_{b:02X}");
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            esc(r#"<a href="x">&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn slugs_are_readable_and_injective() {
        assert_ne!(slug("a b"), slug("a_b"));
        assert_eq!(slug("a b"), "a_20b");
        assert_eq!(slug("a_b"), "a_5Fb");
        assert_eq!(slug("é"), "_C3_A9");
    }
}
