//! Text as single-line fields need it: a name, a category, an email header, a template
//! parameter.

use std::borrow::Cow;

/// A character that ends a line of text, or has no business in one: a control character
/// (C0, DEL, C1 such as U+0085) or the Unicode line and paragraph separators.
pub fn is_break(c: char) -> bool {
    c.is_control() || c == '\u{2028}' || c == '\u{2029}'
}

/// `text` on one line: each run of breaks ([`is_break`]) with the spaces around it becomes one
/// space, and the ends are trimmed; other spacing is kept as written. `"Budi\r\nSantoso"`
/// becomes `"Budi Santoso"`.
pub fn single_line(text: &str) -> Cow<'_, str> {
    let text = text.trim();
    if !text.contains(is_break) {
        return Cow::Borrowed(text);
    }
    let mut line = String::with_capacity(text.len());
    // A break was met since the last character kept: the next one kept is after a space.
    let mut broken = false;
    for c in text.chars() {
        if is_break(c) {
            line.truncate(line.trim_end().len());
            broken = true;
        } else if !(broken && c.is_whitespace()) {
            if broken && !line.is_empty() {
                line.push(' ');
            }
            broken = false;
            line.push(c);
        }
    }
    Cow::Owned(line)
}
