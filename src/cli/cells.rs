//! What the command line writes from stored data, made safe for where it is read: CSV cells
//! that a spreadsheet cannot run as formulas, terminal text that cannot drive the terminal,
//! and log fields that cannot start a line of their own. Every CSV, every table and every
//! text log line surveyd prints goes through here.

use std::borrow::Cow;
use std::io::Write;

/// A CSV writer whose every cell is [`formula_safe`].
pub struct CsvWriter<W: Write>(csv::Writer<W>);

impl<W: Write> CsvWriter<W> {
    /// A writer onto `out`; the caller writes the header as a record.
    pub fn new(out: W) -> Self {
        CsvWriter(
            csv::WriterBuilder::new()
                .has_headers(false)
                .from_writer(out),
        )
    }

    pub fn write_record<T: AsRef<str>>(
        &mut self,
        cells: impl IntoIterator<Item = T>,
    ) -> csv::Result<()> {
        for cell in cells {
            self.0.write_field(formula_safe(cell.as_ref()).as_bytes())?;
        }
        self.0.write_record(None::<&[u8]>)
    }

    pub fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// `cell` as a spreadsheet takes it for text: one beginning with `=`, `+`, `-`, `@`, a tab or
/// a carriage return gets a leading `'` (OWASP's advice against CSV injection), unless it is
/// a plain decimal number such as `-12.5`, which a spreadsheet reads as that number.
pub fn formula_safe(cell: &str) -> Cow<'_, str> {
    let starts_formula = cell.starts_with(['=', '+', '-', '@', '\t', '\r']);
    if starts_formula && !is_decimal(cell) {
        Cow::Owned(format!("'{cell}"))
    } else {
        Cow::Borrowed(cell)
    }
}

/// `-`, digits, and optionally `.` and more digits: `-12`, `-0.2500`.
fn is_decimal(cell: &str) -> bool {
    let digits = cell.strip_prefix('-').unwrap_or(cell);
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, "0"));
    !whole.is_empty()
        && !fraction.is_empty()
        && whole
            .bytes()
            .chain(fraction.bytes())
            .all(|b| b.is_ascii_digit())
}

/// `text` with every control character but the line break written as an escape (`\u{1b}`,
/// `\t`), so stored data cannot move the cursor, recolour, retitle or ring the terminal.
pub fn terminal_safe(text: &str) -> Cow<'_, str> {
    escaped(text, |c| c == '\n')
}

/// `text` for one line of a text log: every control character, the line break included, and
/// the Unicode line and paragraph separators written as escapes, so a value from outside (a
/// name typed at sign-in, a field of a webhook) cannot forge a log line or drive a terminal.
pub fn log_safe(text: &str) -> Cow<'_, str> {
    escaped(text, |_| false)
}

/// `text` with the hostile characters other than those `keep` keeps escaped.
fn escaped(text: &str, keep: impl Fn(char) -> bool) -> Cow<'_, str> {
    let hostile = |c: char| is_hostile(c) && !keep(c);
    if !text.chars().any(hostile) {
        return Cow::Borrowed(text);
    }
    let mut safe = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if hostile(c) {
            safe.extend(c.escape_default());
        } else {
            safe.push(c);
        }
    }
    Cow::Owned(safe)
}

/// Control characters (C0, DEL, C1), the line and paragraph separators, and the marks that
/// reorder text on screen (bidirectional overrides and isolates).
fn is_hostile(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_starts_are_quoted_and_numbers_kept() {
        for (cell, written) in [
            (
                "=HYPERLINK(\"http://evil.example\")",
                "'=HYPERLINK(\"http://evil.example\")",
            ),
            ("+1+1", "'+1+1"),
            ("-1+1", "'-1+1"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\tx", "'\tx"),
            ("\rx", "'\rx"),
            ("-", "'-"),
            ("-.5", "'-.5"),
            ("-1.", "'-1."),
            ("-inf", "'-inf"),
            ("-12.5", "-12.5"),
            ("-3", "-3"),
            ("0.2500", "0.2500"),
            ("Budi = happy", "Budi = happy"),
            ("", ""),
        ] {
            assert_eq!(formula_safe(cell), written, "{cell:?}");
        }
    }

    #[test]
    fn control_characters_are_escaped_for_the_terminal() {
        assert_eq!(
            terminal_safe("Budi\u{1b}[31m red\u{7}"),
            "Budi\\u{1b}[31m red\\u{7}"
        );
        assert_eq!(terminal_safe("a\tb\rc\nd"), "a\\tb\\rc\nd");
        assert_eq!(terminal_safe("abc\u{202e}"), "abc\\u{202e}");
        assert!(matches!(terminal_safe("Siti Rahayu"), Cow::Borrowed(_)));
    }
}
