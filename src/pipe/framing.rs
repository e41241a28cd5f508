//! Bytes to request lines: LF framing with the protocol's line-length limit,
//! then the CR, empty-line and UTF-8 rules of a line.
//!
//! A line longer than [`MAX_LINE_BYTES`] is reported once as
//! [`Frame::TooLong`] as soon as it is known to be too long, and the rest of it
//! is skipped up to its line feed, so memory stays bounded whatever a client
//! sends. [`request_text`] then makes a finished line the text of a request.

use crate::wire::MAX_REQUEST_BYTES as MAX_LINE_BYTES;

/// What one complete piece of input turned out to be.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    /// A line without its line feed (a CR before it is still there).
    Line(&'a [u8]),
    TooLong,
}

/// Accumulates partial lines between reads.
#[derive(Debug)]
pub struct LineReader {
    partial: Vec<u8>,
    /// Inside a too-long line whose 413 has been reported.
    skipping: bool,
    /// The longest line, its line feed included.
    limit: usize,
}

impl Default for LineReader {
    fn default() -> Self {
        LineReader::with_limit(MAX_LINE_BYTES)
    }
}

/// Capacity above which an emptied buffer is given back, so that one long line
/// does not pin 64 KiB to an idle connection.
const KEEP_CAPACITY: usize = 4096;

impl LineReader {
    pub fn new() -> LineReader {
        LineReader::default()
    }

    /// A reader of lines of at most `limit` bytes, line feed included (the
    /// IRC front door's limit differs from the pipe's).
    pub fn with_limit(limit: usize) -> LineReader {
        LineReader {
            partial: Vec::new(),
            skipping: false,
            limit,
        }
    }

    /// Feeds freshly read bytes, calling `on_frame` for each finished frame.
    pub fn feed(&mut self, mut data: &[u8], mut on_frame: impl FnMut(Frame<'_>)) {
        while !data.is_empty() {
            let Some(end) = data.iter().position(|&b| b == b'\n') else {
                if !self.skipping {
                    if self.partial.len() + data.len() >= self.limit {
                        // Even a line feed as the next byte would be one too many.
                        self.partial.clear();
                        self.skipping = true;
                        on_frame(Frame::TooLong);
                    } else {
                        self.partial.extend_from_slice(data);
                    }
                }
                break;
            };
            let piece = &data[..end];
            data = &data[end + 1..];
            if self.skipping {
                self.skipping = false;
            } else if self.partial.len() + piece.len() + 1 > self.limit {
                on_frame(Frame::TooLong);
            } else if self.partial.is_empty() {
                on_frame(Frame::Line(piece));
            } else {
                self.partial.extend_from_slice(piece);
                on_frame(Frame::Line(&self.partial));
            }
            self.partial.clear();
        }
        if self.partial.is_empty() && self.partial.capacity() > KEEP_CAPACITY {
            self.partial = Vec::new();
        }
    }

    /// Whether a line has begun and not yet ended.
    pub fn in_line(&self) -> bool {
        self.skipping || !self.partial.is_empty()
    }
}

/// What one line holds, as far as requests are concerned.
#[derive(Debug, PartialEq, Eq)]
pub enum LineText<'a> {
    /// Nothing (maybe a CR): ignored, and answered with nothing.
    Empty,
    Text(&'a str),
    NotUtf8,
}

/// A line without its line feed as request text: a CR right before the line
/// feed is dropped.
pub fn request_text(line: &[u8]) -> LineText<'_> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.is_empty() {
        return LineText::Empty;
    }
    match std::str::from_utf8(line) {
        Ok(text) => LineText::Text(text),
        Err(_) => LineText::NotUtf8,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(reader: &mut LineReader, data: &[u8]) -> Vec<String> {
        let mut out = Vec::new();
        reader.feed(data, |frame| {
            out.push(match frame {
                Frame::Line(line) => String::from_utf8_lossy(line).into_owned(),
                Frame::TooLong => "<too long>".to_string(),
            })
        });
        out
    }

    #[test]
    fn splits_lines_across_reads() {
        let mut reader = LineReader::new();
        assert_eq!(frames(&mut reader, b"/ping\n/he"), vec!["/ping"]);
        assert!(reader.in_line());
        assert_eq!(frames(&mut reader, b"lp\r\n\n"), vec!["/help\r", ""]);
        assert!(!reader.in_line());
    }

    #[test]
    fn accepts_a_line_of_exactly_the_limit() {
        let mut reader = LineReader::new();
        let mut line = vec![b'a'; MAX_LINE_BYTES - 1];
        line.push(b'\n');
        let got = frames(&mut reader, &line);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].len(), MAX_LINE_BYTES - 1);
    }

    #[test]
    fn reports_one_too_long_and_skips_the_rest() {
        let mut reader = LineReader::new();
        let mut got = Vec::new();
        for _ in 0..20 {
            got.extend(frames(&mut reader, &[b'x'; 4096]));
        }
        got.extend(frames(&mut reader, b"tail\n/ping\n"));
        assert_eq!(got, vec!["<too long>", "/ping"]);
        assert!(!reader.in_line());
    }

    #[test]
    fn too_long_when_the_line_feed_arrives_in_the_same_read() {
        let mut reader = LineReader::new();
        let mut data = vec![b'y'; MAX_LINE_BYTES];
        data.extend_from_slice(b"\n/ping\n");
        assert_eq!(frames(&mut reader, &data), vec!["<too long>", "/ping"]);
    }

    #[test]
    fn request_text_drops_one_cr_and_checks_utf8() {
        assert_eq!(request_text(b"/ping\r"), LineText::Text("/ping"));
        assert_eq!(request_text(b"/ping\r\r"), LineText::Text("/ping\r"));
        assert_eq!(request_text(b"\r"), LineText::Empty);
        assert_eq!(request_text(b""), LineText::Empty);
        assert_eq!(request_text(b"/p\xffng"), LineText::NotUtf8);
    }
}
