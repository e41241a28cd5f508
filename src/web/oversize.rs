//! Refusing an oversized WebSocket message without reading it into memory.
//!
//! The protocol answers a text message over 64 KiB with a `413` and goes
//! on, whatever its size, as the pipe door does for a long line. tungstenite
//! can only take a message whole or end the connection (close 1009), so the
//! client's frames pass through [`OversizeFilter`] on their way to it: a
//! message whose first frame is larger than the limit is read and dropped
//! piece by piece (its continuation frames too), and tungstenite gets in its
//! place a small stand-in, a text message one byte over the limit, which the
//! door answers `413` as any other (or an empty binary message, answered
//! `400` as binary messages are). Control frames in between pass.
//!
//! A message sent as many frames, each within the limit, still reaches
//! tungstenite frame by frame, which takes up to
//! [`super::socket::MAX_WS_MESSAGE_BYTES`] before ending the connection.

use std::io::{self, Read};

const FIN: u8 = 0x80;
const MASKED: u8 = 0x80;
const CONTINUATION: u8 = 0x0;
const TEXT: u8 = 0x1;
const BINARY: u8 = 0x2;

/// What the filter is in the middle of.
enum State {
    /// At a frame boundary.
    Header,
    /// Passing this many payload bytes of the current frame on.
    Forward(u64),
    /// Dropping this many payload bytes of the current frame.
    Skip(u64),
}

/// Client frames on their way to tungstenite, with oversized messages
/// swapped for stand-ins.
pub(crate) struct OversizeFilter<R> {
    inner: R,
    /// The largest first frame passed on as it is.
    limit: u64,
    state: State,
    /// Inside a replaced message: its continuation frames are dropped too.
    dropping_message: bool,
    /// Bytes to hand on before reading more: a frame's header, a stand-in.
    ready: Vec<u8>,
    ready_from: usize,
}

impl<R: Read> OversizeFilter<R> {
    pub(crate) fn new(inner: R, limit: usize) -> OversizeFilter<R> {
        OversizeFilter {
            inner,
            limit: limit as u64,
            state: State::Header,
            dropping_message: false,
            ready: Vec::new(),
            ready_from: 0,
        }
    }

    /// Reads the next frame's header and decides what becomes of the frame.
    /// `false` at the end of the stream (or in a header cut off by it).
    fn next_frame(&mut self) -> io::Result<bool> {
        let mut start = [0u8; 2];
        if !read_all_or_end(&mut self.inner, &mut start)? {
            return Ok(false);
        }
        let extra_length = match start[1] & 0x7F {
            126 => 2,
            127 => 8,
            _ => 0,
        };
        let masked = start[1] & MASKED != 0;
        let mask_length = if masked { 4 } else { 0 };
        let mut header = start.to_vec();
        header.resize(2 + extra_length + mask_length, 0);
        if !read_all_or_end(&mut self.inner, &mut header[2..])? {
            return Ok(false);
        }
        let payload = match extra_length {
            2 => u64::from(u16::from_be_bytes([header[2], header[3]])),
            8 => u64::from_be_bytes(header[2..10].try_into().expect("8 bytes")),
            _ => u64::from(start[1] & 0x7F),
        };
        let fin = start[0] & FIN != 0;
        let opcode = start[0] & 0x0F;
        let control = opcode & 0x8 != 0;

        if self.dropping_message && opcode == CONTINUATION {
            self.dropping_message = !fin;
            self.state = State::Skip(payload);
        } else if masked && (opcode == TEXT || opcode == BINARY) && payload > self.limit {
            self.ready = stand_in(opcode, self.limit);
            self.ready_from = 0;
            self.dropping_message = !fin;
            self.state = State::Skip(payload);
        } else {
            // Anything else, well-formed or not (an unmasked client frame,
            // a reserved opcode), is tungstenite's to judge.
            if !control {
                self.dropping_message = false;
            }
            self.ready = header;
            self.ready_from = 0;
            self.state = State::Forward(payload);
        }
        Ok(true)
    }
}

impl<R: Read> Read for OversizeFilter<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if self.ready_from < self.ready.len() {
                let ready = &self.ready[self.ready_from..];
                let n = ready.len().min(buf.len());
                buf[..n].copy_from_slice(&ready[..n]);
                self.ready_from += n;
                return Ok(n);
            }
            match self.state {
                State::Forward(left) if left > 0 => {
                    let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                    let n = self.inner.read(&mut buf[..want])?;
                    self.state = State::Forward(left - n as u64);
                    return Ok(n);
                }
                State::Skip(left) if left > 0 => {
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

/// A masked (with a zero key) frame tungstenite answers as the oversized
/// message would be answered: text one byte over `limit`, or empty binary.
fn stand_in(opcode: u8, limit: u64) -> Vec<u8> {
    let mut frame = vec![FIN | opcode];
    if opcode == TEXT {
        let length = limit + 1;
        frame.push(MASKED | 127);
        frame.extend_from_slice(&length.to_be_bytes());
        frame.extend_from_slice(&[0; 4]);
        frame.resize(frame.len() + usize::try_from(length).unwrap_or(0), b'x');
    } else {
        frame.push(MASKED);
        frame.extend_from_slice(&[0; 4]);
    }
    frame
}

/// Fills `buf`, or returns `false` if the stream ends first (at once or
/// part way: a frame cut off is no frame).
fn read_all_or_end(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<bool> {
    match reader.read_exact(buf) {
        Ok(()) => Ok(true),
        Err(err) if err.kind() == io::ErrorKind::UnexpectedEof => Ok(false),
        Err(err) => Err(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client frame: masked with `key`, as clients must.
    fn frame(first: u8, payload: &[u8], key: [u8; 4]) -> Vec<u8> {
        let mut frame = vec![first];
        match payload.len() {
            n if n < 126 => frame.push(MASKED | n as u8),
            n if n <= usize::from(u16::MAX) => {
                frame.push(MASKED | 126);
                frame.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                frame.push(MASKED | 127);
                frame.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        frame.extend_from_slice(&key);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        frame
    }

    fn filtered(input: Vec<u8>, limit: usize) -> Vec<u8> {
        let mut out = Vec::new();
        // Tiny reads, to cross every boundary.
        let mut filter = OversizeFilter::new(io::Cursor::new(input), limit);
        let mut buf = [0u8; 3];
        loop {
            let n = filter.read(&mut buf).unwrap();
            if n == 0 {
                return out;
            }
            out.extend_from_slice(&buf[..n]);
        }
    }

    #[test]
    fn frames_within_the_limit_pass_unchanged() {
        let key = [1, 2, 3, 4];
        let mut input = frame(FIN | TEXT, b"/ping", key);
        input.extend(frame(TEXT, &[b'a'; 10], key));
        input.extend(frame(0x89, b"ping", key));
        input.extend(frame(FIN | CONTINUATION, &[b'b'; 10], key));
        input.extend(frame(FIN | BINARY, &[7; 10], key));
        assert_eq!(filtered(input.clone(), 10), input);
    }

    #[test]
    fn an_oversized_message_becomes_a_stand_in_and_its_pieces_are_dropped() {
        let key = [9, 8, 7, 6];
        let ping = frame(0x89, b"hi", key);
        let after = frame(FIN | TEXT, b"/ping", key);
        let mut input = frame(TEXT, &[b'z'; 300], key);
        input.extend(&ping);
        input.extend(frame(CONTINUATION, &[b'z'; 5], key));
        input.extend(frame(FIN | CONTINUATION, &[b'z'; 70_000], key));
        input.extend(frame(FIN | BINARY, &[1; 11], key));
        input.extend(&after);

        let mut expected = stand_in(TEXT, 10);
        expected.extend(&ping);
        expected.extend(stand_in(BINARY, 10));
        expected.extend(&after);
        assert_eq!(filtered(input, 10), expected);
        // The stand-in is one byte over the limit, masked with a zero key.
        assert_eq!(stand_in(TEXT, 10)[1], MASKED | 127);
        assert_eq!(stand_in(TEXT, 10).len(), 2 + 8 + 4 + 11);
    }

    /// A frame as the property test draws it: first byte, payload length.
    fn drawn_frames() -> impl proptest::strategy::Strategy<Value = Vec<(u8, usize)>> {
        use proptest::prelude::*;
        let first = prop_oneof![
            Just(FIN | TEXT),
            Just(TEXT),
            Just(FIN | BINARY),
            Just(CONTINUATION),
            Just(FIN | CONTINUATION),
            Just(0x89),
        ];
        let length = prop_oneof![0usize..20, 20usize..40, 100usize..70_000];
        proptest::collection::vec((first, length), 0..12)
    }

    proptest::proptest! {
        /// Read in pieces of any size, the filter gives what deciding frame
        /// by frame gives: oversized messages swapped, the rest unchanged.
        #[test]
        fn streaming_matches_deciding_frame_by_frame(
            frames in drawn_frames(),
            piece in 1usize..5000,
        ) {
            let limit = 30;
            let mut input = Vec::new();
            let mut expected = Vec::new();
            let mut dropping = false;
            for (i, &(first, length)) in frames.iter().enumerate() {
                let payload: Vec<u8> = (0..length).map(|n| (n + i) as u8).collect();
                let bytes = frame(first, &payload, [i as u8, 1, 2, 3]);
                input.extend(&bytes);
                let opcode = first & 0x0F;
                if dropping && opcode == CONTINUATION {
                    dropping = first & FIN == 0;
                } else if (opcode == TEXT || opcode == BINARY) && length > limit {
                    expected.extend(stand_in(opcode, limit as u64));
                    dropping = first & FIN == 0;
                } else {
                    if opcode & 0x8 == 0 {
                        dropping = false;
                    }
                    expected.extend(bytes);
                }
            }
            let mut filter = OversizeFilter::new(io::Cursor::new(input), limit);
            let mut out = Vec::new();
            let mut buf = vec![0u8; piece];
            loop {
                let n = filter.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                out.extend_from_slice(&buf[..n]);
            }
            proptest::prop_assert!(out == expected);
        }
    }

    #[test]
    fn a_stream_cut_off_in_a_header_or_a_dropped_payload_just_ends() {
        let key = [0; 4];
        let whole = frame(FIN | TEXT, &[b'z'; 100], key);
        assert_eq!(filtered(whole[..1].to_vec(), 10), Vec::<u8>::new());
        assert_eq!(filtered(whole[..50].to_vec(), 10), stand_in(TEXT, 10));
    }
}
