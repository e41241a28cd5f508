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
//! `400` as binary messages are). The stand-in's text is made as tungstenite
//! reads it, so nothing of it is held here. A message sent in pieces gets a
//! stand-in in pieces: its first one at once, an empty last one when the
//! message ends, so that tungstenite still sees a message in progress (and
//! refuses a new one inside it). Control frames in between pass.
//!
//! Only well-formed frames are swapped or dropped; an unmasked frame, one
//! with extension bits, or a length with its top bit set passes on as it
//! came, for tungstenite to refuse. A header is kept across reads, so a read
//! that fails part way loses nothing.
//!
//! A message sent as many frames, each within the limit, still reaches
//! tungstenite frame by frame, which takes up to
//! [`super::socket::MAX_WS_MESSAGE_BYTES`] before ending the connection.

use std::io::{self, Read};

const FIN: u8 = 0x80;
/// The extension bits, which no extension of this server sets.
const RESERVED: u8 = 0x70;
const MASKED: u8 = 0x80;
const CONTINUATION: u8 = 0x0;
const TEXT: u8 = 0x1;
const BINARY: u8 = 0x2;
/// The longest header: two bytes, an 8-byte length, a 4-byte mask.
const MAX_HEADER: usize = 14;
/// An empty, final, masked continuation frame: ends a stand-in sent in
/// pieces.
const LAST_PIECE: [u8; 6] = [FIN | CONTINUATION, MASKED, 0, 0, 0, 0];

/// What the filter is in the middle of.
enum State {
    /// At a frame boundary, or inside a header.
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
    /// The header being read; kept across calls, so that an error part way
    /// loses nothing.
    header: [u8; MAX_HEADER],
    header_len: usize,
    /// Inside a replaced message: its continuation frames are dropped, and
    /// its last one ends the stand-in.
    dropping_message: bool,
    /// Bytes to hand on before anything else: a header, a stand-in's.
    ready: [u8; MAX_HEADER],
    ready_len: usize,
    ready_from: usize,
    /// Then this many bytes of a stand-in's text, made as they are asked
    /// for (an idle connection holds none of them).
    filler: u64,
}

impl<R: Read> OversizeFilter<R> {
    pub(crate) fn new(inner: R, limit: usize) -> OversizeFilter<R> {
        OversizeFilter {
            inner,
            limit: limit as u64,
            state: State::Header,
            header: [0; MAX_HEADER],
            header_len: 0,
            dropping_message: false,
            ready: [0; MAX_HEADER],
            ready_len: 0,
            ready_from: 0,
            filler: 0,
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
        let control = opcode & 0x8 != 0;
        // Only what is well formed is swapped or dropped: masked, no
        // extension bits, a length with its top bit clear. The rest goes on
        // for tungstenite to refuse.
        let well_formed =
            header[1] & MASKED != 0 && header[0] & RESERVED == 0 && payload <= i64::MAX as u64;

        if self.dropping_message && opcode == CONTINUATION && well_formed {
            self.state = State::Skip(payload);
            if fin {
                self.dropping_message = false;
                self.set_ready(&LAST_PIECE);
            }
        } else if !self.dropping_message
            && (opcode == TEXT || opcode == BINARY)
            && well_formed
            && payload > self.limit
        {
            self.start_stand_in(header[0] & (FIN | 0x0F));
            self.dropping_message = !fin;
            self.state = State::Skip(payload);
        } else {
            // A data frame in the middle of a replaced message is a
            // protocol error tungstenite sees too: it is in the stand-in.
            if !control {
                self.dropping_message = false;
            }
            self.set_ready(&header[..header_len]);
            self.state = State::Forward(payload);
        }
        Ok(true)
    }

    fn set_ready(&mut self, bytes: &[u8]) {
        self.ready[..bytes.len()].copy_from_slice(bytes);
        self.ready_len = bytes.len();
        self.ready_from = 0;
    }

    /// Starts a stand-in with `first` (FIN and the opcode of the message it
    /// replaces), masked with a zero key: text one byte over the limit,
    /// which the door answers `413`, or empty binary, answered `400`.
    fn start_stand_in(&mut self, first: u8) {
        if first & 0x0F == TEXT {
            let length = self.limit + 1;
            let mut header = [0u8; MAX_HEADER];
            header[0] = first;
            header[1] = MASKED | 127;
            header[2..10].copy_from_slice(&length.to_be_bytes());
            self.set_ready(&header);
            self.filler = length;
        } else {
            self.set_ready(&[first, MASKED, 0, 0, 0, 0]);
        }
    }
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
        let mut filter = OversizeFilter::new(io::Cursor::new(input), limit);
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
        assert_eq!(filtered(input.clone(), 10), input);
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
        let mut filter = OversizeFilter::new(Hiccups(input.clone(), 0, false), 10);
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
            for (i, &(first, length, masked)) in frames.iter().enumerate() {
                let payload: Vec<u8> = (0..length).map(|n| (n + i) as u8).collect();
                let key = masked.then_some([i as u8, 1, 2, 3]);
                let bytes = frame(first, &payload, key);
                input.extend(&bytes);
                let opcode = first & 0x0F;
                let fin = first & FIN != 0;
                let well_formed = masked && first & RESERVED == 0;
                if dropping && opcode == CONTINUATION && well_formed {
                    if fin {
                        dropping = false;
                        expected.extend(LAST_PIECE);
                    }
                } else if !dropping
                    && (opcode == TEXT || opcode == BINARY)
                    && well_formed
                    && length > limit
                {
                    expected.extend(stand_in(first & (FIN | 0x0F), limit));
                    dropping = !fin;
                } else {
                    if opcode & 0x8 == 0 {
                        dropping = false;
                    }
                    expected.extend(bytes);
                }
            }
            proptest::prop_assert!(filtered_in(input, limit, piece) == expected);
        }
    }

    #[test]
    fn a_stream_cut_off_in_a_header_or_a_dropped_payload_just_ends() {
        let whole = frame(FIN | TEXT, &[b'z'; 100], Some([0; 4]));
        assert_eq!(filtered(whole[..1].to_vec(), 10), Vec::<u8>::new());
        assert_eq!(filtered(whole[..50].to_vec(), 10), stand_in(FIN | TEXT, 10));
    }
}
