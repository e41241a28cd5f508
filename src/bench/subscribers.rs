//! Reading thousands of subscriber sockets on a few threads.
//!
//! Each reader thread owns a share of the subscribed sockets, switched to
//! non-blocking and registered with its own epoll instance. On every wake-up
//! it reads what arrived, cuts lines, and for each `message` event records
//! the delivery latency (the send time travels in the message text) and which
//! message it was (its sequence number, also in the text). It stops once every
//! one of its subscribers has every message the publishers had acknowledged,
//! or when the drain time runs out.
//!
//! # Format
//!
//! The text of a fan-out message:
//!
//! ```text
//! f <sequence number> <nanoseconds since the run's epoch when it was sent>
//! ```

use std::borrow::Cow;
use std::io::Read;
use std::net::TcpStream;

use super::client::Feed;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rustix::buffer::spare_capacity;
use rustix::event::{Timespec, epoll};
use serde::Deserialize;

use super::stats::Samples;

/// How often a waiting reader looks at whether it may stop.
const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// The text of the `seq`-th message, sent `sent_ns` after the epoch.
pub fn message_text(seq: usize, sent_ns: u64) -> String {
    format!("f {seq} {sent_ns}")
}

/// The sequence number and send time in a message text, if it is ours.
pub fn parse_text(text: &str) -> Option<(usize, u64)> {
    let mut parts = text.strip_prefix("f ")?.split(' ');
    let seq = parts.next()?.parse().ok()?;
    let sent = parts.next()?.parse().ok()?;
    parts.next().is_none().then_some((seq, sent))
}

/// What the publishers and the readers share.
pub struct Shared {
    /// Send and receive times are nanoseconds since this instant.
    pub epoch: Instant,
    /// Messages the publishers will send: sequence numbers `0..planned`.
    pub planned: usize,
    /// Set once publishing is over, with `acked` final.
    pub publishing_done: AtomicBool,
    /// Messages acknowledged with `201`.
    pub acked: AtomicU64,
    /// The readers give up waiting for missing messages at this many
    /// nanoseconds after the epoch (set with `publishing_done`).
    pub drain_until_ns: AtomicU64,
    /// The run's hard deadline.
    pub deadline: super::Deadline,
    /// Message events received so far, for progress.
    pub delivered: AtomicU64,
}

impl Shared {
    pub fn now_ns(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

/// One subscriber connection as a reader sees it.
struct Subscriber {
    /// Its socket; over WebSocket, tungstenite cuts the messages and each
    /// one joins `buf` as a line.
    feed: Feed,
    buf: Vec<u8>,
    tally: Tally,
}

impl Subscriber {
    fn stream(&self) -> &TcpStream {
        self.feed.socket()
    }
}

/// What one subscriber received.
#[derive(Debug, Default)]
pub struct Tally {
    /// Bit `seq` is set once message `seq` arrived.
    received: Vec<u64>,
    pub unique: u64,
    pub duplicates: u64,
    /// Message events whose id was not above the one before.
    pub out_of_order: u64,
    last_id: i64,
    /// Events other than messages (join, exit) and lines that are not ours.
    pub other_lines: u64,
    /// The server closed the connection (or it failed) before the end.
    pub closed: Option<String>,
}

impl Tally {
    fn new(planned: usize) -> Tally {
        Tally {
            received: vec![0; planned.div_ceil(64)],
            ..Tally::default()
        }
    }

    pub fn has(&self, seq: usize) -> bool {
        self.received
            .get(seq / 64)
            .is_some_and(|word| word & (1 << (seq % 64)) != 0)
    }

    /// Records message `seq`; `false` when it had come already.
    fn mark(&mut self, seq: usize) -> bool {
        let Some(word) = self.received.get_mut(seq / 64) else {
            return false;
        };
        let bit = 1 << (seq % 64);
        let fresh = *word & bit == 0;
        *word |= bit;
        fresh
    }
}

/// What one reader thread measured.
#[derive(Debug, Default)]
pub struct ReaderResult {
    pub tallies: Vec<Tally>,
    pub latencies: Samples,
    /// Nanoseconds after the epoch of the last message received.
    pub last_delivery_ns: u64,
    pub errors: Vec<String>,
}

/// An event line as a reader needs it: a borrowed view of the few keys it
/// looks at, not a [`crate::wire::Event`], kept for speed (every delivered
/// line is parsed, on the cores the server runs on).
#[derive(Deserialize)]
struct EventLine<'a> {
    #[serde(borrow)]
    event: Option<Cow<'a, str>>,
    #[serde(borrow)]
    data: Option<EventData<'a>>,
}

#[derive(Deserialize)]
struct EventData<'a> {
    id: Option<i64>,
    #[serde(borrow)]
    text: Option<Cow<'a, str>>,
}

/// Reads `sockets` (each with bytes already read past its subscribe reply)
/// until done; see the module documentation.
pub fn read_all(
    sockets: Vec<Feed>,
    shared: &Shared,
    progress: &indicatif::ProgressBar,
) -> ReaderResult {
    let mut result = ReaderResult::default();
    let epoll = match epoll::create(epoll::CreateFlags::CLOEXEC) {
        Ok(epoll) => epoll,
        Err(err) => {
            result.errors.push(format!("epoll_create: {err}"));
            return result;
        }
    };
    let mut subscribers: Vec<Subscriber> = Vec::with_capacity(sockets.len());
    for (index, feed) in sockets.into_iter().enumerate() {
        let (feed, leftover) = match feed {
            Feed::Tcp(stream, leftover) => (Feed::Tcp(stream, Vec::new()), leftover),
            ws @ Feed::Ws(_) => (ws, Vec::new()),
        };
        let mut subscriber = Subscriber {
            feed,
            buf: leftover,
            tally: Tally::new(shared.planned),
        };
        let registered = subscriber.stream().set_nonblocking(true).and_then(|()| {
            epoll::add(
                &epoll,
                subscriber.stream(),
                epoll::EventData::new_u64(index as u64),
                epoll::EventFlags::IN | epoll::EventFlags::RDHUP,
            )
            .map_err(std::io::Error::from)
        });
        if let Err(err) = registered {
            subscriber.tally.closed = Some(format!("cannot watch the socket: {err}"));
        }
        let now = shared.now_ns();
        // Over WebSocket, messages tungstenite buffered already.
        if subscriber.tally.closed.is_none() && matches!(subscriber.feed, Feed::Ws(_)) {
            read_available(&mut subscriber, &mut [], &epoll, 0);
        }
        take_lines(&mut subscriber, now, shared, &mut result);
        subscribers.push(subscriber);
    }

    let mut events = Vec::with_capacity(256);
    let mut chunk = vec![0u8; 64 * 1024];
    let timeout = Timespec::try_from(POLL_INTERVAL).unwrap_or(Timespec {
        tv_sec: 0,
        tv_nsec: 20_000_000,
    });
    let mut last_check = Instant::now();
    loop {
        if shared.deadline.passed() {
            result
                .errors
                .push("stopped at the run's deadline (--timeout)".to_string());
            break;
        }
        if shared.publishing_done.load(Ordering::Acquire)
            && last_check.elapsed() >= POLL_INTERVAL / 2
        {
            last_check = Instant::now();
            let acked = shared.acked.load(Ordering::Acquire);
            let all_in = subscribers
                .iter()
                .all(|s| s.tally.closed.is_some() || s.tally.unique >= acked);
            if all_in || shared.now_ns() >= shared.drain_until_ns.load(Ordering::Acquire) {
                break;
            }
        }
        events.clear();
        match epoll::wait(&epoll, spare_capacity(&mut events), Some(&timeout)) {
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => continue,
            Err(err) => {
                result.errors.push(format!("epoll_wait: {err}"));
                break;
            }
        }
        let now = shared.now_ns();
        let mut delivered = 0;
        for event in &events {
            let index = event.data.u64() as usize;
            let Some(subscriber) = subscribers.get_mut(index) else {
                continue;
            };
            if subscriber.tally.closed.is_some() {
                continue;
            }
            let before = subscriber.tally.unique;
            read_available(subscriber, &mut chunk, &epoll, 1);
            take_lines(subscriber, now, shared, &mut result);
            delivered += subscriber.tally.unique - before;
        }
        if delivered > 0 {
            shared.delivered.fetch_add(delivered, Ordering::Relaxed);
            progress.inc(delivered);
        }
    }
    result.tallies = subscribers.into_iter().map(|s| s.tally).collect();
    result
}

/// Reads what the socket has now into the subscriber's buffer, noting a
/// closed connection: one read over TCP; over WebSocket at most `ws_reads`
/// (the messages already buffered need none), each complete message joining
/// the buffer as a line.
fn read_available(
    subscriber: &mut Subscriber,
    chunk: &mut [u8],
    epoll: &impl rustix::fd::AsFd,
    ws_reads: u32,
) {
    if let Feed::Ws(socket) = &mut subscriber.feed {
        socket.get_mut().ration(ws_reads);
    }
    let closed = match &mut subscriber.feed {
        Feed::Tcp(stream, _) => match stream.read(chunk) {
            Ok(0) => Some("closed by the server".to_string()),
            Ok(read) => {
                subscriber.buf.extend_from_slice(&chunk[..read]);
                None
            }
            Err(err)
                if matches!(
                    err.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted
                ) =>
            {
                None
            }
            Err(err) => Some(err.to_string()),
        },
        Feed::Ws(socket) => loop {
            match socket.read() {
                Ok(tungstenite::Message::Text(text)) => {
                    subscriber.buf.extend_from_slice(text.as_bytes());
                    subscriber.buf.push(b'\n');
                }
                Ok(tungstenite::Message::Close(_)) => {
                    break Some("closed by the server".to_string());
                }
                Ok(_) => {}
                Err(tungstenite::Error::Io(err))
                    if matches!(
                        err.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted
                    ) =>
                {
                    break None;
                }
                Err(err) => break Some(err.to_string()),
            }
        },
    };
    if let Some(why) = closed {
        subscriber.tally.closed = Some(why);
        let _ = epoll::delete(epoll, subscriber.stream());
    }
}

/// Handles every complete line in the subscriber's buffer.
fn take_lines(subscriber: &mut Subscriber, now: u64, shared: &Shared, out: &mut ReaderResult) {
    let mut start = 0;
    while let Some(end) = subscriber.buf[start..].iter().position(|&b| b == b'\n') {
        let line = &subscriber.buf[start..start + end];
        start += end + 1;
        let tally = &mut subscriber.tally;
        let Ok(parsed) = serde_json::from_slice::<EventLine<'_>>(line) else {
            tally.other_lines += 1;
            continue;
        };
        let message = match (parsed.event.as_deref(), parsed.data) {
            (Some("message"), Some(data)) => data,
            _ => {
                tally.other_lines += 1;
                continue;
            }
        };
        let (Some(id), Some((seq, sent))) =
            (message.id, message.text.as_deref().and_then(parse_text))
        else {
            tally.other_lines += 1;
            continue;
        };
        if seq >= shared.planned {
            tally.other_lines += 1;
        } else if tally.mark(seq) {
            // Only a first arrival can be out of order: a repeat is counted
            // as one, not as both.
            if id <= tally.last_id {
                tally.out_of_order += 1;
            }
            tally.unique += 1;
            out.latencies.push_nanos(now.saturating_sub(sent));
            out.last_delivery_ns = out.last_delivery_ns.max(now);
        } else {
            tally.duplicates += 1;
        }
        tally.last_id = tally.last_id.max(id);
    }
    subscriber.buf.drain(..start);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_texts_round_trip() {
        assert_eq!(parse_text(&message_text(42, 123_456)), Some((42, 123_456)));
        assert_eq!(parse_text("hello"), None);
        assert_eq!(parse_text("f 1"), None);
        assert_eq!(parse_text("f 1 2 3"), None);
    }

    #[test]
    fn tally_marks_each_sequence_number_once() {
        let mut tally = Tally::new(100);
        assert!(tally.mark(0));
        assert!(tally.mark(99));
        assert!(!tally.mark(99));
        assert!(!tally.mark(128), "past the bits kept");
        assert!(tally.has(0) && tally.has(99) && !tally.has(50));
    }
}
