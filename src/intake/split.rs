//! An import's input cut into records, each numbered by the physical line it starts on, as
//! an editor counts lines (the first line is 1; LF, CRLF and a lone CR each end one).
//!
//! CSV as RFC 4180 writes it (and as the csv crate reads it): a field that starts with `"` is
//! quoted, may hold commas, quotes (doubled) and line breaks, and ends at the next lone `"`
//! (text after that joins the field); a `"` inside an unquoted field is text. Blank lines are
//! skipped. A quoted field that is never closed stops the reading at the line where it opened:
//! no later row can be told apart from the rest of that field. JSONL is one record per line.
//!
//! A record longer than [`MAX_RECORD`] is returned empty and flagged, so memory stays bounded
//! whatever the input; a quoted field still open that far from its start stops the reading.

use csv::ByteRecord;
use std::io::{self, BufRead};

/// The longest record kept: far beyond any contact, short of a whole file swallowed by one
/// unclosed quote.
pub const MAX_RECORD: usize = 1 << 20;

/// Why reading stopped before the end of the input.
#[derive(Debug)]
pub struct Stop {
    /// The line the reading could not get past.
    pub line: u64,
    pub reason: String,
}

impl Stop {
    fn io(line: u64, error: io::Error) -> Stop {
        Stop {
            line,
            reason: format!("cannot read on: {error}"),
        }
    }
}

/// Counts physical lines over the bytes read.
#[derive(Debug, Clone, Copy)]
struct LineCount {
    /// The line the next byte is on.
    line: u64,
    /// The last byte was a CR: a LF now ends the same line.
    after_cr: bool,
}

impl LineCount {
    fn new() -> Self {
        LineCount {
            line: 1,
            after_cr: false,
        }
    }

    fn count(&mut self, bytes: &[u8]) {
        for &b in bytes {
            match b {
                b'\n' if self.after_cr => self.after_cr = false,
                b'\n' => self.line += 1,
                b'\r' => {
                    self.line += 1;
                    self.after_cr = true;
                }
                _ => self.after_cr = false,
            }
        }
    }
}

/// A CSV record as read: its fields and the line it starts on.
#[derive(Debug, Default)]
pub struct CsvRecord {
    pub fields: ByteRecord,
    pub line: u64,
    /// Longer than [`MAX_RECORD`]: its fields were dropped.
    pub too_long: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Between records (blank lines are skipped here).
    Record,
    Field,
    Unquoted,
    Quoted,
    /// A `"` in a quoted field: the field's end, or the first of a doubled quote.
    QuoteInQuoted,
}

/// Reads CSV records one at a time.
pub struct CsvRecords<R> {
    input: R,
    lines: LineCount,
    bytes: u64,
    field: Vec<u8>,
}

impl<R: BufRead> CsvRecords<R> {
    pub fn new(input: R) -> Self {
        CsvRecords {
            input,
            lines: LineCount::new(),
            bytes: 0,
            field: Vec::new(),
        }
    }

    /// Bytes read so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Reads the next record into `record`; `false` at the end of the input.
    pub fn read(&mut self, record: &mut CsvRecord) -> Result<bool, Stop> {
        record.fields.clear();
        record.too_long = false;
        self.field.clear();
        let mut state = State::Record;
        let mut quote_line = 0;
        loop {
            let buffer = match self.input.fill_buf() {
                Ok(buffer) => buffer,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Stop::io(self.lines.line, e)),
            };
            if buffer.is_empty() {
                return match state {
                    State::Record => Ok(false),
                    State::Quoted => Err(Stop {
                        line: quote_line,
                        reason: "a quoted field opened here is never closed".into(),
                    }),
                    _ => {
                        end_field(&mut self.field, record);
                        Ok(true)
                    }
                };
            }
            if self.bytes == 0 && buffer.starts_with(b"\xef\xbb\xbf") {
                self.consume(3); // a UTF-8 byte order mark
                continue;
            }
            let mut used = 0;
            let mut ended = false;
            while used < buffer.len() && !ended {
                // A run of bytes that only join the current field.
                let plain = match state {
                    State::Unquoted => buffer[used..]
                        .iter()
                        .position(|&b| matches!(b, b',' | b'\r' | b'\n')),
                    State::Quoted => buffer[used..]
                        .iter()
                        .position(|&b| matches!(b, b'"' | b'\r' | b'\n')),
                    _ => Some(0),
                }
                .unwrap_or(buffer.len() - used);
                if plain > 0 {
                    let run = &buffer[used..used + plain];
                    if !record.too_long {
                        self.field.extend_from_slice(run);
                    }
                    self.lines.count(run);
                    used += plain;
                    continue;
                }
                let b = buffer[used];
                let line = self.lines.line;
                self.lines.count(&buffer[used..=used]);
                used += 1;
                if state == State::Record {
                    if matches!(b, b'\r' | b'\n') {
                        continue; // a blank line
                    }
                    record.line = line;
                    state = State::Field;
                }
                state = match (state, b) {
                    (State::Field, b'"') => {
                        quote_line = line;
                        State::Quoted
                    }
                    (State::Quoted, b'"') => State::QuoteInQuoted,
                    (State::Quoted, _) | (State::QuoteInQuoted, b'"') => {
                        if !record.too_long {
                            self.field.push(b);
                        }
                        State::Quoted
                    }
                    (_, b',') => {
                        end_field(&mut self.field, record);
                        State::Field
                    }
                    (_, b'\r' | b'\n') => {
                        end_field(&mut self.field, record);
                        ended = true;
                        State::Record
                    }
                    _ => {
                        if !record.too_long {
                            self.field.push(b);
                        }
                        State::Unquoted
                    }
                };
            }
            self.consume(used);
            let size = record.fields.as_slice().len() + self.field.len();
            if size > MAX_RECORD && !record.too_long {
                if state == State::Quoted {
                    return Err(Stop {
                        line: quote_line,
                        reason: format!(
                            "a quoted field opened here is still open {} MiB later \
                             (is its closing quote missing?)",
                            MAX_RECORD >> 20
                        ),
                    });
                }
                record.too_long = true;
                record.fields.clear();
                self.field.clear();
            }
            if ended {
                return Ok(true);
            }
        }
    }

    fn consume(&mut self, n: usize) {
        self.input.consume(n);
        self.bytes += n as u64;
    }
}

/// Ends the field being read: it joins the record (unless the record was too long).
fn end_field(field: &mut Vec<u8>, record: &mut CsvRecord) {
    if !record.too_long {
        record.fields.push_field(field);
    }
    field.clear();
}

/// Reads JSONL lines one at a time.
pub struct JsonLines<R> {
    input: R,
    line: u64,
    bytes: u64,
}

impl<R: BufRead> JsonLines<R> {
    pub fn new(input: R) -> Self {
        JsonLines {
            input,
            line: 0,
            bytes: 0,
        }
    }

    /// Bytes read so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Reads the next line into `buffer` (its LF included); returns its number and whether
    /// it was longer than [`MAX_RECORD`] (then `buffer` holds only its start), or `None` at
    /// the end of the input.
    pub fn read(&mut self, buffer: &mut Vec<u8>) -> Result<Option<(u64, bool)>, Stop> {
        buffer.clear();
        let next = self.line + 1;
        let n = self.read_until_lf(buffer, MAX_RECORD as u64 + 1, next)?;
        if n == 0 {
            return Ok(None);
        }
        self.line = next;
        let too_long = buffer.len() > MAX_RECORD && buffer.last() != Some(&b'\n');
        if too_long {
            // Skip the rest of the line, a bounded piece at a time.
            let mut rest = Vec::new();
            loop {
                rest.clear();
                if self.read_until_lf(&mut rest, MAX_RECORD as u64, next)? == 0
                    || rest.last() == Some(&b'\n')
                {
                    break;
                }
            }
        }
        Ok(Some((next, too_long)))
    }

    fn read_until_lf(
        &mut self,
        buffer: &mut Vec<u8>,
        limit: u64,
        line: u64,
    ) -> Result<usize, Stop> {
        let n = io::Read::take(&mut self.input, limit)
            .read_until(b'\n', buffer)
            .map_err(|e| Stop::io(line, e))?;
        self.bytes += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each record read: its line and fields.
    type Records = Vec<(u64, Vec<String>)>;

    /// The records of `input`, and where and why reading stopped, if it did.
    fn records(input: &[u8]) -> (Records, Option<(u64, String)>) {
        let mut reader = CsvRecords::new(io::BufReader::with_capacity(7, input));
        let mut record = CsvRecord::default();
        let mut read = Vec::new();
        loop {
            match reader.read(&mut record) {
                Ok(true) => read.push((
                    record.line,
                    record
                        .fields
                        .iter()
                        .map(|f| String::from_utf8_lossy(f).into_owned())
                        .collect(),
                )),
                Ok(false) => return (read, None),
                Err(stop) => return (read, Some((stop.line, stop.reason))),
            }
        }
    }

    fn fields(texts: &[&str]) -> Vec<String> {
        texts.iter().map(|t| t.to_string()).collect()
    }

    #[test]
    fn records_are_numbered_by_their_first_physical_line() {
        let input = b"h1,h2\n\"a\nb\nc\",x\n\n  \nd,\"e \"\"q\"\" f\"\r\ng,h\r\ri,j\n\"k\"l,m\"n";
        let (read, stop) = records(input);
        assert_eq!(stop, None);
        assert_eq!(
            read,
            [
                (1, fields(&["h1", "h2"])),
                (2, fields(&["a\nb\nc", "x"])),
                (6, fields(&["  "])),
                (7, fields(&["d", "e \"q\" f"])),
                (8, fields(&["g", "h"])),
                (10, fields(&["i", "j"])),
                (11, fields(&["kl", "m\"n"])),
            ]
        );
    }

    #[test]
    fn empty_fields_and_a_byte_order_mark() {
        let (read, _) = records(b"\xef\xbb\xbf\"a\",,\n,b\n\"\"");
        assert_eq!(
            read,
            [
                (1, fields(&["a", "", ""])),
                (2, fields(&["", "b"])),
                (3, fields(&[""])),
            ]
        );
    }

    #[test]
    fn an_unclosed_quote_stops_at_the_line_it_opened() {
        let (read, stop) = records(b"a,b\nc,d\ne,\"f\ng,h\ni,j\n");
        assert_eq!(read.len(), 2);
        assert_eq!(
            stop,
            Some((3, "a quoted field opened here is never closed".into()))
        );
        // The quote that stays open is named, not the first of the record.
        let (_, stop) = records(b"\"a\nb\",\"c\nd\n");
        assert_eq!(stop.unwrap().0, 2);
    }

    #[test]
    fn a_record_past_the_bound_is_flagged_and_reading_goes_on() {
        let mut input = b"a,b\n".to_vec();
        input.extend(std::iter::repeat_n(b'x', MAX_RECORD + 1));
        input.extend(b",y\nc,d\n\"");
        input.extend(std::iter::repeat_n(b'z', MAX_RECORD + 1));
        let mut reader = CsvRecords::new(io::BufReader::new(&input[..]));
        let mut record = CsvRecord::default();
        assert!(reader.read(&mut record).unwrap());
        assert!(reader.read(&mut record).unwrap());
        assert_eq!(
            (record.line, record.too_long, record.fields.len()),
            (2, true, 0)
        );
        assert!(reader.read(&mut record).unwrap());
        assert_eq!(
            (record.line, record.too_long, &record.fields[1]),
            (3, false, &b"d"[..])
        );
        let stop = reader.read(&mut record).unwrap_err();
        assert_eq!(stop.line, 4);
        assert!(
            stop.reason.contains("still open 1 MiB later"),
            "{}",
            stop.reason
        );
    }

    #[test]
    fn json_lines_are_numbered_and_bounded() {
        let mut input = b"{}\r\n\n".to_vec();
        input.extend(std::iter::repeat_n(b' ', 2 * MAX_RECORD + 5));
        input.extend(b"\n{\"a\": 1}");
        let mut lines = JsonLines::new(io::BufReader::new(&input[..]));
        let mut buffer = Vec::new();
        let mut read = Vec::new();
        while let Some((line, too_long)) = lines.read(&mut buffer).unwrap() {
            read.push((line, too_long, buffer.len().min(20)));
        }
        assert_eq!(
            read,
            [(1, false, 4), (2, false, 1), (3, true, 20), (4, false, 8)]
        );
        assert_eq!(lines.bytes(), input.len() as u64);
    }
}
