//! Refusing an oversized WebSocket message without reading it into memory.
//!
//! The protocol answers a text message over 64 KiB with a `413` and goes
//! on, whatever its size and however it is cut into frames, as the pipe door
//! does for a long line. tungstenite can only take a message whole or end
//! the connection (close 1009), so the client's frames pass through
//! [`OversizeFilter`] on their way to it, which counts each message's bytes
//! as its frames go by. Once a message would pass the limit, the frame that
//! would take it over and everything after it in that message are read and
//! dropped piece by piece, never held, and tungstenite gets in their place a
//! small stand-in frame that takes the message one byte over the limit,
//! which the door answers `413` as any other (a binary message gets an empty
//! one instead: the door answers any binary message `400`). The stand-in's
//! text is made as tungstenite reads it, so nothing of it is held here, and
//! it first completes a character cut in two where the message was cut,
//! since tungstenite checks the text as it comes and would end the
//! connection (1007) over a broken one. A message replaced before its last
//! frame gets an empty last piece when it ends, so that tungstenite still
//! sees a message in progress (and refuses a new one inside it). Control
//! frames in between pass.
//!
//! A message being dropped may keep coming for as long as a request line on
//! TCP may (`--line-timeout`): a frame that declares an endless length, or
//! endless empty frames, would otherwise keep its connection's thread
//! reading for ever. The read then fails (`TimedOut`), which ends the
//! connection. (A client that stops sending part way waits, as an idle one
//! does, until TCP keep-alive or the client ends it.)
//!
//! Only well-formed frames are counted, swapped or dropped; an unmasked
//! frame, one with extension bits, or a length with its top bit set passes
//! on as it came, for tungstenite to refuse. A header is kept across reads,
//! so a read that fails part way loses nothing.

use std::io::{self, Read};
use std::time::{Duration, Instant};

const FIN: u8 = 0x80;
/// The extension bits, which no extension of this server sets.
const RESERVED: u8 = 0x70;
const MASKED: u8 = 0x80;
const CONTINUATION: u8 = 0x0;
const TEXT: u8 = 0x1;
const BINARY: u8 = 0x2;
/// The longest header: two bytes, an 8-byte length, a 4-byte mask.
const MAX_HEADER: usize = 14;
/// The most bytes a character cut in two can lack.
const MAX_COMPLETION: usize = 3;
/// An empty, final, masked continuation frame: ends a stand-in sent in
/// pieces.
const LAST_PIECE: [u8; 6] = [FIN | CONTINUATION, MASKED, 0, 0, 0, 0];

/// What the filter is in the middle of.
enum State {
    /// At a frame boundary, or inside a header.
    Header,
    /// Passing this many payload bytes of the current frame on; `watched`
    /// when they are text of a message still to go on (see
    /// [`Passing::tail`]).
    Forward { left: u64, watched: bool },
    /// Dropping this many payload bytes of the current frame.
    Skip(u64),
}

/// A message passed on in pieces, within the limit so far.
struct Passing {
    text: bool,
    /// Its payload bytes so far, counting the current frame whole.
    bytes: u64,
    /// The last few bytes of its text, unmasked: where it is cut off, the
    /// stand-in first completes the character they may end inside.
    tail: [u8; MAX_COMPLETION],
    tail_len: usize,
}

impl Passing {
    fn new(text: bool, bytes: u64) -> Passing {
        Passing {
            text,
            bytes,
            tail: [0; MAX_COMPLETION],
            tail_len: 0,
        }
    }

    fn push_tail(&mut self, bytes: impl Iterator<Item = u8>) {
        for byte in bytes {
            if self.tail_len == MAX_COMPLETION {
                self.tail.copy_within(1.., 0);
                self.tail_len -= 1;
            }
            self.tail[self.tail_len] = byte;
            self.tail_len += 1;
        }
    }
}

/// Client frames on their way to tungstenite, with oversized messages
/// swapped for stand-ins.
pub(crate) struct OversizeFilter<R> {
    inner: R,
    /// The most bytes a message may have and pass on as it is.
    limit: u64,
    state: State,
    /// The header being read; kept across calls, so that an error part way
    /// loses nothing.
    header: [u8; MAX_HEADER],
    header_len: usize,
    /// The message in progress, while it passes on.
    passing: Option<Passing>,
    /// The current frame's mask key, and how far into its payload the reads
    /// are: for unmasking the bytes of a watched frame.
    mask: [u8; 4],
    frame_offset: u64,
    /// Inside a replaced message: its continuation frames are dropped, and
    /// its last one ends the stand-in.
    dropping_message: bool,
    /// Bytes to hand on before anything else: a header, a stand-in's header
    /// and the end of a cut character.
    ready: [u8; MAX_HEADER + MAX_COMPLETION],
    ready_len: usize,
    ready_from: usize,
    /// Then this many bytes of a stand-in's text, made as they are asked
    /// for (an idle connection holds none of them).
    filler: u64,
    /// How long a message being dropped may go on, and since when it has.
    dropping_for_at_most: Duration,
    dropping_since: Option<Instant>,
}

impl<R: Read> OversizeFilter<R> {
    /// Filters `inner` for messages over `limit` bytes, each of which must
    /// have ended within `dropping_for_at_most` of when it passed the limit.
    pub(crate) fn new(inner: R, limit: usize, dropping_for_at_most: Duration) -> OversizeFilter<R> {
        OversizeFilter {
            inner,
            limit: limit as u64,
            state: State::Header,
            header: [0; MAX_HEADER],
            header_len: 0,
            passing: None,
            mask: [0; 4],
            frame_offset: 0,
            dropping_message: false,
            ready: [0; MAX_HEADER + MAX_COMPLETION],
            ready_len: 0,
            ready_from: 0,
            filler: 0,
            dropping_for_at_most,
            dropping_since: None,
        }
    }

    /// Reads the rest of the next frame's header; `false` at the end of the
    /// stream (also in a header cut off by it: a cut-off frame is none).
    fn read_header(&mut self) -> io::Result<bool> {
        loop {
            let need = if self.header_len < 2 {
                2
            } else {
                header_length(self.header[1])
            };
            if self.header_len == need && need >= 2 && self.header_len >= 2 {
                return Ok(true);
            }
            match self.inner.read(&mut self.header[self.header_len..need]) {
                Ok(0) => return Ok(false),
                Ok(n) => self.header_len += n,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(err),
            }
        }
    }

    /// Reads the next frame's header and decides what becomes of the frame.
    /// `false` at the end of the stream.
    fn next_frame(&mut self) -> io::Result<bool> {
        if !self.dropping_message {
            // The message dropped last, if any, has ended.
            self.dropping_since = None;
        }
        // Also here: empty frames of a dropped message never reach a skip.
        self.check_dropping_deadline()?;
        if !self.read_header()? {
            return Ok(false);
        }
        let header_len = std::mem::take(&mut self.header_len);
        let header = self.header;
        let payload = match header[1] & 0x7F {
            126 => u64::from(u16::from_be_bytes([header[2], header[3]])),
            127 => u64::from_be_bytes(header[2..10].try_into().expect("8 bytes")),
            short => u64::from(short),
        };
        let fin = header[0] & FIN != 0;
        let opcode = header[0] & 0x0F;
        let first = header[0] & (FIN | 0x0F);
        // Only what is well formed is counted, swapped or dropped: masked,
        // no extension bits, a length with its top bit clear. The rest goes
        // on for tungstenite to refuse.
        let well_formed =
            header[1] & MASKED != 0 && header[0] & RESERVED == 0 && payload <= i64::MAX as u64;
        if opcode & 0x8 != 0 {
            // A control frame: it may come between a message's frames.
            self.forward(&header[..header_len], payload, false);
            return Ok(true);
        }
        if !well_formed {
            self.passing = None;
            self.dropping_message = false;
            self.forward(&header[..header_len], payload, false);
            return Ok(true);
        }
        self.mask = header[header_len - 4..header_len]
            .try_into()
            .expect("4 bytes");
        match (opcode, self.passing.take()) {
            (CONTINUATION, None) if self.dropping_message => {
                self.state = State::Skip(payload);
                if fin {
                    self.dropping_message = false;
                    self.set_ready(&LAST_PIECE);
                }
            }
            (CONTINUATION, Some(passing)) if passing.bytes + payload > self.limit => {
                self.start_stand_in(first, &passing);
                self.dropping_message = !fin;
                self.state = State::Skip(payload);
            }
            (CONTINUATION, Some(mut passing)) => {
                passing.bytes += payload;
                let watched = passing.text && !fin;
                self.forward(&header[..header_len], payload, watched);
                if !fin {
                    self.passing = Some(passing);
                }
            }
            (TEXT | BINARY, None) if !self.dropping_message => {
                let text = opcode == TEXT;
                if payload > self.limit {
                    self.start_stand_in(first, &Passing::new(text, 0));
                    self.dropping_message = !fin;
                    self.state = State::Skip(payload);
                } else {
                    self.forward(&header[..header_len], payload, text && !fin);
                    if !fin {
                        self.passing = Some(Passing::new(text, payload));
                    }
                }
            }
            _ => {
                // A continuation with no message to continue, a new message
                // inside another (passed on or replaced: it is in the
                // stand-in), a reserved opcode: protocol errors tungstenite
                // sees too.
                self.dropping_message = false;
                self.forward(&header[..header_len], payload, false);
            }
        }
        Ok(true)
    }

    /// Fails once the message being dropped has gone on for longer than it
    /// may.
    fn check_dropping_deadline(&self) -> io::Result<()> {
        match self.dropping_since {
            Some(since) if since.elapsed() >= self.dropping_for_at_most => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "an oversized message kept coming for more than {:?}",
                    self.dropping_for_at_most
                ),
            )),
            _ => Ok(()),
        }
    }

    /// Passes the frame with this header on, and then its payload.
    fn forward(&mut self, header: &[u8], payload: u64, watched: bool) {
        self.set_ready(header);
        self.frame_offset = 0;
        self.state = State::Forward {
            left: payload,
            watched,
        };
    }

    fn set_ready(&mut self, bytes: &[u8]) {
        self.ready[..bytes.len()].copy_from_slice(bytes);
        self.ready_len = bytes.len();
        self.ready_from = 0;
    }

    /// Starts a stand-in frame with `first` (FIN and the opcode of the frame
    /// it replaces), masked with a zero key, for the rest of a message of
    /// which `so_far` went on already: for text, the end of a character cut
    /// off there, then enough text to go one byte over the limit, which the
    /// door answers `413`; for binary, nothing (the door answers `400`).
    fn start_stand_in(&mut self, first: u8, so_far: &Passing) {
        self.dropping_since = Some(Instant::now());
        if !so_far.text {
            self.set_ready(&[first, MASKED, 0, 0, 0, 0]);
            return;
        }
        let (completion, completion_len) = completion(&so_far.tail[..so_far.tail_len]);
        let filler = self.limit + 1 - so_far.bytes;
        let length = completion_len as u64 + filler;
        let mut ready = [0u8; MAX_HEADER + MAX_COMPLETION];
        ready[0] = first;
        ready[1] = MASKED | 127;
        ready[2..10].copy_from_slice(&length.to_be_bytes());
        ready[MAX_HEADER..MAX_HEADER + completion_len]
            .copy_from_slice(&completion[..completion_len]);
        self.set_ready(&ready[..MAX_HEADER + completion_len]);
        self.filler = filler;
    }

    /// Notes the end of what a watched frame passed on (`bytes`, as read:
    /// masked).
    fn watch(&mut self, bytes: &[u8]) {
        let Some(passing) = self.passing.as_mut() else {
            return;
        };
        let start = bytes.len().saturating_sub(MAX_COMPLETION);
        let offset = self.frame_offset;
        let mask = self.mask;
        passing.push_tail(
            bytes[start..]
                .iter()
                .enumerate()
                .map(|(i, byte)| byte ^ mask[((offset + (start + i) as u64) % 4) as usize]),
        );
    }
}

/// The bytes that end a character cut off at the end of `text` (at most
/// [`MAX_COMPLETION`]), the first of them valid for its lead byte; none
/// when no character is cut off. What is not UTF-8 anyway is not mended:
/// tungstenite refuses it as it came.
fn completion(text: &[u8]) -> ([u8; MAX_COMPLETION], usize) {
    let mut out = [0x80; MAX_COMPLETION];
    let Some(lead_at) = text.iter().rposition(|&byte| byte & 0xC0 != 0x80) else {
        return (out, 0);
    };
    let lead = text[lead_at];
    let width: usize = match lead {
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF7 => 4,
        _ => 1,
    };
    let have = text.len() - lead_at;
    let missing = width.saturating_sub(have);
    if have == 1 {
        // The second byte's range depends on the lead (no overlong forms,
        // no surrogates, nothing past U+10FFFF); these are in every range.
        out[0] = match lead {
            0xE0 => 0xA0,
            0xF0 => 0x90,
            _ => 0x80,
        };
    }
    (out, missing)
}

/// A header's length from its second byte: the length's form and the mask.
fn header_length(second: u8) -> usize {
    let length = match second & 0x7F {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    let mask = if second & MASKED != 0 { 4 } else { 0 };
    2 + length + mask
}

impl<R: Read> Read for OversizeFilter<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if self.ready_from < self.ready_len {
                let ready = &self.ready[self.ready_from..self.ready_len];
                let n = ready.len().min(buf.len());
                buf[..n].copy_from_slice(&ready[..n]);
                self.ready_from += n;
                return Ok(n);
            }
            if self.filler > 0 {
                let n = buf
                    .len()
                    .min(usize::try_from(self.filler).unwrap_or(usize::MAX));
                buf[..n].fill(b'x');
                self.filler -= n as u64;
                return Ok(n);
            }
            match self.state {
                State::Forward { left, watched } if left > 0 => {
                    let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                    let n = self.inner.read(&mut buf[..want])?;
                    if watched {
                        self.watch(&buf[..n]);
                    }
                    self.frame_offset += n as u64;
                    self.state = State::Forward {
                        left: left - n as u64,
                        watched,
                    };
                    return Ok(n);
                }
                State::Skip(left) if left > 0 => {
                    self.check_dropping_deadline()?;
                    let mut scrap = [0u8; 8192];
                    let want = scrap.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                    let n = self.inner.read(&mut scrap[..want])?;
                    if n == 0 {
                        return Ok(0);
                    }
                    self.state = State::Skip(left - n as u64);
                }
                _ => {
                    if !self.next_frame()? {
                        return Ok(0);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client frame, masked with `key` unless it is `None`.
    fn frame(first: u8, payload: &[u8], key: Option<[u8; 4]>) -> Vec<u8> {
        let mask_bit = if key.is_some() { MASKED } else { 0 };
        let mut frame = vec![first];
        match payload.len() {
            n if n < 126 => frame.push(mask_bit | n as u8),
            n if n <= usize::from(u16::MAX) => {
                frame.push(mask_bit | 126);
                frame.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                frame.push(mask_bit | 127);
                frame.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        match key {
            Some(key) => {
                frame.extend_from_slice(&key);
                frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
            }
            None => frame.extend_from_slice(payload),
        }
        frame
    }

    /// What the filter puts in place of an oversized message's first frame
    /// (`first`: its FIN bit and opcode).
    fn stand_in(first: u8, limit: usize) -> Vec<u8> {
        if first & 0x0F == TEXT {
            let mut frame = vec![first, MASKED | 127];
            frame.extend_from_slice(&(limit as u64 + 1).to_be_bytes());
            frame.extend_from_slice(&[0; 4]);
            frame.resize(frame.len() + limit + 1, b'x');
            frame
        } else {
            vec![first, MASKED, 0, 0, 0, 0]
        }
    }

    /// Everything the filter gives, read in pieces of `piece` bytes.
    fn filtered_in(input: Vec<u8>, limit: usize, piece: usize) -> Vec<u8> {
        let mut out = Vec::new();
        let mut filter =
            OversizeFilter::new(io::Cursor::new(input), limit, Duration::from_secs(60));
        let mut buf = vec![0u8; piece];
        loop {
            let n = filter.read(&mut buf).unwrap();
            if n == 0 {
                return out;
            }
            out.extend_from_slice(&buf[..n]);
        }
    }

    /// Tiny reads, to cross every boundary.
    fn filtered(input: Vec<u8>, limit: usize) -> Vec<u8> {
        filtered_in(input, limit, 3)
    }

    #[test]
    fn frames_within_the_limit_pass_unchanged() {
        let key = Some([1, 2, 3, 4]);
        let mut input = frame(FIN | TEXT, b"/ping", key);
        input.extend(frame(TEXT, &[b'a'; 10], key));
        input.extend(frame(0x89, b"ping", key));
        input.extend(frame(FIN | CONTINUATION, &[b'b'; 10], key));
        input.extend(frame(FIN | BINARY, &[7; 10], key));
        assert_eq!(filtered(input.clone(), 20), input);
    }

    /// A stand-in frame for the rest of a message: `first` (FIN and
    /// opcode), then `completion` and `filler` bytes of text.
    fn stand_in_piece(first: u8, completion: &[u8], filler: usize) -> Vec<u8> {
        let mut frame = vec![first, MASKED | 127];
        frame.extend_from_slice(&((completion.len() + filler) as u64).to_be_bytes());
        frame.extend_from_slice(&[0; 4]);
        frame.extend_from_slice(completion);
        frame.resize(frame.len() + filler, b'x');
        frame
    }

    /// A message in pieces passes until a piece would take it over the
    /// limit; that piece becomes the stand-in, which completes the character
    /// cut at the end of what passed and goes one byte over the limit.
    #[test]
    fn a_message_in_pieces_is_replaced_where_it_would_pass_the_limit() {
        let key = Some([3, 1, 4, 1]);
        // "abcdefg€" cut inside the euro sign (E2 82 AC).
        let start = frame(TEXT, b"abcdefg\xE2\x82", key);
        let ping = frame(0x89, b"hi", key);
        let mut input = start.clone();
        input.extend(&ping);
        input.extend(frame(CONTINUATION, b"\xACzzzz", key));
        input.extend(frame(FIN | CONTINUATION, b"zz", key));
        let after = frame(FIN | BINARY, &[1; 6], key);
        input.extend(&after);

        let mut expected = start;
        expected.extend(&ping);
        expected.extend(stand_in_piece(CONTINUATION, &[0x80], 10 + 1 - 9));
        expected.extend(LAST_PIECE);
        expected.extend(&after);
        assert_eq!(filtered(input, 10), expected);

        // Binary: an empty piece, final if the piece it replaces was.
        let start = frame(BINARY, &[1; 6], key);
        let mut input = start.clone();
        input.extend(frame(FIN | CONTINUATION, &[2; 6], key));
        let mut expected = start;
        expected.extend([FIN | CONTINUATION, MASKED, 0, 0, 0, 0]);
        assert_eq!(filtered(input, 10), expected);
    }

    /// Whatever the text and wherever it is cut, the completion makes it
    /// whole UTF-8 again.
    #[test]
    fn the_completion_ends_any_character_cut_in_two() {
        for text in [
            "a",
            "é",
            "€",
            "ࠀ",
            "\u{D7FF}",
            "\u{E000}",
            "😀",
            "\u{10000}",
            "\u{10FFFF}",
        ] {
            let whole = format!("ab{text}");
            for cut in 0..=whole.len() {
                let mut bytes = whole.as_bytes()[..cut].to_vec();
                let tail_from = cut.saturating_sub(MAX_COMPLETION);
                let (completion, n) = completion(&bytes[tail_from..]);
                bytes.extend_from_slice(&completion[..n]);
                assert!(
                    std::str::from_utf8(&bytes).is_ok(),
                    "{whole:?} cut at {cut}: {bytes:x?}"
                );
            }
        }
    }

    /// The data frames in `bytes` (the filter's output: masked, well
    /// formed), each as its first byte and its unmasked payload.
    fn data_frames(mut bytes: &[u8]) -> Vec<(u8, Vec<u8>)> {
        let mut frames = Vec::new();
        while !bytes.is_empty() {
            let header = header_length(bytes[1]);
            let length = match bytes[1] & 0x7F {
                126 => usize::from(u16::from_be_bytes([bytes[2], bytes[3]])),
                127 => u64::from_be_bytes(bytes[2..10].try_into().unwrap()) as usize,
                short => usize::from(short),
            };
            let key = &bytes[header - 4..header];
            let payload = bytes[header..header + length]
                .iter()
                .enumerate()
                .map(|(i, b)| b ^ key[i % 4])
                .collect();
            if bytes[0] & 0x08 == 0 {
                frames.push((bytes[0], payload));
            }
            bytes = &bytes[header + length..];
        }
        frames
    }

    #[test]
    fn an_oversized_message_becomes_a_stand_in_and_its_pieces_are_dropped() {
        let key = Some([9, 8, 7, 6]);
        let ping = frame(0x89, b"hi", key);
        let after = frame(FIN | TEXT, b"/ping", key);
        let mut input = frame(TEXT, &[b'z'; 300], key);
        input.extend(&ping);
        input.extend(frame(CONTINUATION, &[b'z'; 5], key));
        input.extend(frame(FIN | CONTINUATION, &[b'z'; 70_000], key));
        input.extend(frame(FIN | BINARY, &[1; 11], key));
        input.extend(&after);

        // The stand-in comes in pieces too, ended by the message's end.
        let mut expected = stand_in(TEXT, 10);
        expected.extend(&ping);
        expected.extend(LAST_PIECE);
        expected.extend(stand_in(FIN | BINARY, 10));
        expected.extend(&after);
        assert_eq!(filtered(input, 10), expected);
    }

    /// What tungstenite must refuse reaches it as it came: unmasked frames,
    /// extension bits, a length with its top bit set, and a new message in
    /// the middle of a replaced one.
    #[test]
    fn what_is_not_well_formed_passes_for_tungstenite_to_refuse() {
        let key = Some([5, 5, 5, 5]);
        for bad in [
            frame(FIN | TEXT, &[b'z'; 40], None),
            frame(FIN | 0x40 | TEXT, &[b'z'; 40], key),
        ] {
            assert_eq!(filtered(bad.clone(), 10), bad);
        }
        let mut huge = vec![FIN | TEXT, MASKED | 127];
        huge.extend_from_slice(&(1u64 << 63 | 5).to_be_bytes());
        huge.extend_from_slice(&[0; 4]);
        huge.extend_from_slice(b"abcde");
        assert_eq!(filtered(huge.clone(), 10), huge);

        let mut input = frame(TEXT, &[b'z'; 40], key);
        let intruder = frame(FIN | TEXT, b"/ping", key);
        input.extend(&intruder);
        let unmasked_piece = frame(FIN | CONTINUATION, b"zz", None);
        input.extend(&unmasked_piece);
        let mut expected = stand_in(TEXT, 10);
        expected.extend(&intruder);
        expected.extend(&unmasked_piece);
        assert_eq!(filtered(input, 10), expected);
    }

    /// A read that fails part way through a header loses nothing: the next
    /// read goes on from there.
    #[test]
    fn an_error_inside_a_header_loses_nothing() {
        struct Hiccups(Vec<u8>, usize, bool);
        impl Read for Hiccups {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                self.2 = !self.2;
                if self.2 {
                    return Err(io::ErrorKind::WouldBlock.into());
                }
                let Some(&byte) = self.0.get(self.1) else {
                    return Ok(0);
                };
                buf[0] = byte;
                self.1 += 1;
                Ok(1)
            }
        }
        let input = frame(FIN | TEXT, b"/ping", Some([1, 2, 3, 4]));
        let mut filter = OversizeFilter::new(
            Hiccups(input.clone(), 0, false),
            10,
            Duration::from_secs(60),
        );
        let mut out = Vec::new();
        let mut buf = [0u8; 64];
        for _ in 0..1000 {
            match filter.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(err) => assert_eq!(err.kind(), io::ErrorKind::WouldBlock),
            }
        }
        assert_eq!(out, input);
    }

    /// A frame as the property test draws it: first byte, payload length,
    /// masked or not.
    fn drawn_frames() -> impl proptest::strategy::Strategy<Value = Vec<(u8, usize, bool)>> {
        use proptest::prelude::*;
        let first = prop_oneof![
            Just(FIN | TEXT),
            Just(TEXT),
            Just(FIN | BINARY),
            Just(BINARY),
            Just(CONTINUATION),
            Just(FIN | CONTINUATION),
            Just(FIN | 0x40 | TEXT),
            Just(0x89),
        ];
        let length = prop_oneof![0usize..20, 20usize..40, 100usize..70_000];
        let masked = prop_oneof![9 => Just(true), 1 => Just(false)];
        proptest::collection::vec((first, length, masked), 0..12)
    }

    proptest::proptest! {
        /// Read in pieces of any size, the filter gives what deciding frame
        /// by frame gives.
        #[test]
        fn streaming_matches_deciding_frame_by_frame(
            frames in drawn_frames(),
            piece in 1usize..5000,
        ) {
            let limit = 30;
            let mut input = Vec::new();
            let mut expected = Vec::new();
            let mut dropping = false;
            // The message passing on: text or not, and its bytes so far.
            let mut passing: Option<(bool, Vec<u8>)> = None;
            for (i, &(first, length, masked)) in frames.iter().enumerate() {
                let payload: Vec<u8> = (0..length).map(|n| (n + i) as u8).collect();
                let key = masked.then_some([i as u8, 1, 2, 3]);
                let bytes = frame(first, &payload, key);
                input.extend(&bytes);
                let opcode = first & 0x0F;
                let fin = first & FIN != 0;
                let well_formed = masked && first & RESERVED == 0;
                if opcode & 0x8 != 0 {
                    expected.extend(bytes);
                    continue;
                }
                if !well_formed {
                    passing = None;
                    dropping = false;
                    expected.extend(bytes);
                    continue;
                }
                match (opcode, passing.take()) {
                    (CONTINUATION, None) if dropping => {
                        if fin {
                            dropping = false;
                            expected.extend(LAST_PIECE);
                        }
                    }
                    (CONTINUATION, Some((text, so_far))) if so_far.len() + length > limit => {
                        if text {
                            let (completion, n) =
                                completion(&so_far[so_far.len().saturating_sub(3)..]);
                            let filler = limit + 1 - so_far.len();
                            expected.extend(stand_in_piece(first, &completion[..n], filler));
                        } else {
                            expected.extend([first, MASKED, 0, 0, 0, 0]);
                        }
                        dropping = !fin;
                    }
                    (CONTINUATION, Some((text, mut so_far))) => {
                        so_far.extend(&payload);
                        expected.extend(bytes);
                        if !fin {
                            passing = Some((text, so_far));
                        }
                    }
                    (TEXT | BINARY, None) if !dropping => {
                        if length > limit {
                            expected.extend(stand_in(first & (FIN | 0x0F), limit));
                            dropping = !fin;
                        } else {
                            expected.extend(bytes);
                            if !fin {
                                passing = Some((opcode == TEXT, payload));
                            }
                        }
                    }
                    _ => {
                        dropping = false;
                        expected.extend(bytes);
                    }
                }
            }
            proptest::prop_assert!(filtered_in(input, limit, piece) == expected);
        }

        /// A text message in any pieces comes out as it went in if it is
        /// within the limit; otherwise as UTF-8 just over the limit, which
        /// begins with what passed of it.
        #[test]
        fn text_in_any_pieces_comes_out_whole_or_just_over_the_limit(
            text in "\\PC{0,40}",
            cuts in proptest::collection::vec(0usize..200, 0..6),
            key in proptest::prelude::any::<[u8; 4]>(),
            piece in 1usize..50,
        ) {
            let limit = 30;
            let bytes = text.as_bytes();
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (bytes.len() + 1)).collect();
            cuts.sort_unstable();
            cuts.dedup();
            let mut bounds = vec![0];
            bounds.extend(cuts.into_iter().filter(|&c| c > 0 && c < bytes.len()));
            bounds.push(bytes.len());
            let mut input = Vec::new();
            for (n, pair) in bounds.windows(2).enumerate() {
                let opcode = if n == 0 { TEXT } else { CONTINUATION };
                let fin = if n + 2 == bounds.len() { FIN } else { 0 };
                input.extend(frame(fin | opcode, &bytes[pair[0]..pair[1]], Some(key)));
            }
            let message: Vec<u8> = data_frames(&filtered_in(input, limit, piece))
                .into_iter()
                .flat_map(|(_, payload)| payload)
                .collect();
            if bytes.len() <= limit {
                proptest::prop_assert_eq!(&message, bytes);
            } else {
                let out = std::str::from_utf8(&message);
                proptest::prop_assert!(out.is_ok(), "{:x?}", message);
                // What passed: the frames that kept it within the limit.
                let passed = bounds.iter().copied().filter(|&b| b <= limit).max().unwrap_or(0);
                proptest::prop_assert_eq!(&message[..passed], &bytes[..passed]);
                let rest = &message[passed..];
                let completed = rest.iter().take_while(|&&b| b != b'x').count();
                proptest::prop_assert!(completed <= MAX_COMPLETION);
                proptest::prop_assert!(rest[completed..].iter().all(|&b| b == b'x'));
                proptest::prop_assert_eq!(message.len(), limit + 1 + completed);
            }
        }
    }

    #[test]
    fn a_stream_cut_off_in_a_header_or_a_dropped_payload_just_ends() {
        let whole = frame(FIN | TEXT, &[b'z'; 100], Some([0; 4]));
        assert_eq!(filtered(whole[..1].to_vec(), 10), Vec::<u8>::new());
        assert_eq!(filtered(whole[..50].to_vec(), 10), stand_in(FIN | TEXT, 10));
    }

    /// A frame that declares an endless length and keeps coming is dropped
    /// only for so long: then the read fails (here at once), after the
    /// stand-in went on whole.
    #[test]
    fn a_dropped_message_that_keeps_coming_ends_the_connection() {
        struct Endless(Vec<u8>, usize);
        impl Read for Endless {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                let n = buf.len().min(64);
                for byte in &mut buf[..n] {
                    *byte = self.0.get(self.1).copied().unwrap_or(b'z');
                    self.1 += 1;
                }
                Ok(n)
            }
        }
        let mut header = vec![FIN | TEXT, MASKED | 127];
        header.extend_from_slice(&(1u64 << 62).to_be_bytes());
        header.extend_from_slice(&[0; 4]);
        let mut filter = OversizeFilter::new(Endless(header, 0), 10, Duration::ZERO);
        let mut passed = Vec::new();
        let mut buf = [0u8; 64];
        let err = loop {
            match filter.read(&mut buf) {
                Ok(n) => passed.extend_from_slice(&buf[..n]),
                Err(err) => break err,
            }
            assert!(passed.len() < 1_000, "still reading");
        };
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert_eq!(passed, stand_in(FIN | TEXT, 10));

        // Or as empty continuation frames, one after another, for ever:
        // once the oversized frame was skipped (a pause in the input, then),
        // the time is up (set back by hand).
        struct Paused(io::Cursor<Vec<u8>>, Option<io::Cursor<Vec<u8>>>);
        impl Read for Paused {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                match self.0.read(buf)? {
                    0 => match self.1.take() {
                        Some(rest) => {
                            self.0 = rest;
                            Err(io::ErrorKind::WouldBlock.into())
                        }
                        None => Ok(0),
                    },
                    n => Ok(n),
                }
            }
        }
        let oversized = frame(TEXT, &[b'y'; 11], Some([0; 4]));
        let empty = frame(CONTINUATION, b"", Some([0; 4]));
        let empties = empty.repeat(10_000);
        let hour = Duration::from_secs(3600);
        let input = Paused(io::Cursor::new(oversized), Some(io::Cursor::new(empties)));
        let mut filter = OversizeFilter::new(input, 10, hour);
        let mut passed = Vec::new();
        let paused = loop {
            match filter.read(&mut buf) {
                Ok(n) => passed.extend_from_slice(&buf[..n]),
                Err(err) => break err,
            }
        };
        assert_eq!(paused.kind(), io::ErrorKind::WouldBlock);
        assert_eq!(passed, stand_in(TEXT, 10));
        filter.dropping_since = Some(Instant::now() - 2 * hour);
        let err = filter
            .read(&mut buf)
            .expect_err("read all 10,000 empty frames");
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    }
}
