//! `fanout`: one room, S subscribed connections, P publishers sending at a
//! total rate R for T seconds. Measures deliveries per second, the delivery
//! latency from just before a publisher writes its request to a subscriber
//! reading the event, and messages lost: after publishing, the subscribers
//! are drained for up to `--drain` seconds, and every acknowledged message a
//! subscriber never got counts as lost.
//!
//! Publishers run open loop: each writes its requests on schedule and a
//! second thread reads the replies, so a slow server shows as growing
//! latency at the rate asked for, not as a quietly lower rate.
//!
//! Subscribers share a few users (`--users`): a user may be logged in on many
//! connections. Their sockets are read by a few epoll threads
//! ([`crate::bench::subscribers`]).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::{CpuWindow, base_params, clap_defaults, conclude};
use crate::bench::client::{Client, ClientError};
use crate::bench::report::Report;
use crate::bench::setup::{self, Cast};
use crate::bench::stats::{Samples, per_second};
use crate::bench::subscribers::{self, ReaderResult, Shared, message_text};
use crate::bench::target::Target;
use crate::bench::{BenchError, Ctx, progress};
use crate::pipe::request::request_line;

/// Publishers start this long after the last one is spawned.
const START_DELAY: Duration = Duration::from_millis(100);
/// The most deliveries one run may plan: each keeps an 8-byte latency sample.
const MAX_DELIVERIES: f64 = 50e6;
/// The shortest wait for a reply, so a late one still gets a chance.
const POLL: Duration = Duration::from_millis(1);

#[derive(Debug, Clone, clap::Args)]
pub struct FanoutArgs {
    /// Subscribed connections.
    #[arg(long, default_value_t = 100)]
    pub subscribers: usize,
    /// Publishing connections; the rate is split evenly between them. The
    /// server answers each connection's requests one after another, so a
    /// connection cannot carry more than one message per commit round trip.
    #[arg(long, default_value_t = 10)]
    pub publishers: usize,
    /// Messages per second, all publishers together.
    #[arg(long, default_value_t = 1000.0)]
    pub rate: f64,
    /// Seconds of publishing.
    #[arg(long, default_value_t = 10.0)]
    pub seconds: f64,
    /// Distinct users the connections log in as (round robin).
    #[arg(long, default_value_t = 10)]
    pub users: usize,
    /// Seconds to wait after the last scheduled send for the last replies,
    /// and after those for the last deliveries.
    #[arg(long, default_value_t = 10.0)]
    pub drain: f64,
    /// Threads reading the subscriber sockets.
    #[arg(long, default_value_t = 2)]
    pub readers: usize,
}

impl Default for FanoutArgs {
    fn default() -> Self {
        clap_defaults()
    }
}

impl FanoutArgs {
    pub fn smoke() -> FanoutArgs {
        FanoutArgs {
            subscribers: 20,
            publishers: 2,
            rate: 200.0,
            seconds: 1.0,
            users: 3,
            drain: 3.0,
            readers: 2,
        }
    }
}

/// What one publisher did.
#[derive(Default)]
struct Publisher {
    sent: u64,
    acked: Vec<usize>,
    send_latency: Samples,
    errors: u64,
    first_error: Option<String>,
    broken: Option<String>,
    last_send_ns: u64,
}

pub fn run(ctx: &Ctx, args: &FanoutArgs) -> Result<Report, BenchError> {
    if args.subscribers == 0 || args.publishers == 0 || args.readers == 0 {
        return Err(BenchError::Usage(
            "fanout needs --subscribers, --publishers and --readers above 0".to_string(),
        ));
    }
    if !(args.rate > 0.0 && args.seconds > 0.0 && args.drain >= 0.0) {
        return Err(BenchError::Usage(
            "fanout needs a positive --rate and --seconds".to_string(),
        ));
    }
    let deliveries = args.rate * args.seconds * args.subscribers as f64;
    if deliveries > MAX_DELIVERIES {
        return Err(BenchError::Usage(format!(
            "fanout keeps every delivery's latency: rate × seconds × subscribers must stay \
             under {MAX_DELIVERIES:e}, not {deliveries:e}"
        )));
    }
    let cast = Cast::new(&ctx.tag, "fanout", args.users.max(1));
    let target = setup::start(ctx, &cast, args.subscribers + args.publishers)?;
    let measured = measure(ctx, args, &cast, &target);
    conclude(target, measured)
}

fn measure(
    ctx: &Ctx,
    args: &FanoutArgs,
    cast: &Cast,
    target: &Target,
) -> Result<Report, BenchError> {
    let planned = ((args.rate * args.seconds).round() as usize).max(1);
    let room = cast.room.as_str();
    // With several nodes, subscribers are spread over all but the last and
    // publishers are on the last: every event crosses nodes.
    let subscriber_node = |i| target.subscriber_node(i);
    let subscribed = setup::sessions(
        subscriber_node,
        cast,
        args.subscribers,
        ctx,
        "subscribing",
        |_, c| c.expect("/subscribe", &[room], 200),
    )?;
    let publishers = setup::sessions(
        |_| target.publisher_node(),
        cast,
        args.publishers,
        ctx,
        "publishers",
        |_, _| Ok(()),
    )?;

    // Deal the subscriber sockets out to the reader threads.
    let readers = args.readers.min(args.subscribers);
    let mut shares: Vec<Vec<_>> = (0..readers).map(|_| Vec::new()).collect();
    for (i, client) in subscribed.into_iter().enumerate() {
        shares[i % readers].push(client.into_parts());
    }

    let shared = Shared {
        epoch: Instant::now(),
        planned,
        publishing_done: AtomicBool::new(false),
        acked: AtomicU64::new(0),
        drain_until_ns: AtomicU64::new(u64::MAX),
        deadline: ctx.deadline,
        delivered: AtomicU64::new(0),
    };
    let bar = progress::bar(ctx, (planned * args.subscribers) as u64, "deliveries");
    let interval_ns = 1e9 / args.rate;
    let drain = Duration::from_secs_f64(args.drain);
    let cpu = CpuWindow::start(target);
    let (start_ns, publisher_results, reader_results) = std::thread::scope(|scope| {
        let reader_handles: Vec<_> = shares
            .into_iter()
            .map(|share| {
                let (shared, bar) = (&shared, &bar);
                scope.spawn(move || subscribers::read_all(share, shared, bar))
            })
            .collect();
        let start_ns = shared.now_ns() + START_DELAY.as_nanos() as u64;
        let count = args.publishers;
        let publisher_handles: Vec<_> = publishers
            .into_iter()
            .enumerate()
            .map(|(p, client)| {
                let shared = &shared;
                scope.spawn(move || {
                    let schedule = (p..planned)
                        .step_by(count)
                        .map(|seq| (seq, (start_ns as f64 + seq as f64 * interval_ns) as u64))
                        .collect();
                    publish(client, room, schedule, drain, shared)
                })
            })
            .collect();
        let publisher_results: Vec<Publisher> = publisher_handles
            .into_iter()
            .map(|h| h.join().expect("a publisher thread panicked"))
            .collect();
        let acked: usize = publisher_results.iter().map(|p| p.acked.len()).sum();
        shared.acked.store(acked as u64, Ordering::Release);
        shared
            .drain_until_ns
            .store(shared.now_ns() + drain.as_nanos() as u64, Ordering::Release);
        shared.publishing_done.store(true, Ordering::Release);
        let reader_results: Vec<ReaderResult> = reader_handles
            .into_iter()
            .map(|h| h.join().expect("a reader thread panicked"))
            .collect();
        (start_ns, publisher_results, reader_results)
    });
    bar.finish_and_clear();
    let mut report = summarize(
        ctx,
        args,
        planned,
        start_ns,
        publisher_results,
        reader_results,
    );
    cpu.finish(target, &mut report);
    Ok(report)
}

/// Sends each `(seq, at)` of `schedule` at its time without waiting for
/// the replies (open loop: a slow server does not lower the offered rate),
/// while a second thread reads the replies in order. Replies are awaited
/// until `drain` after the last scheduled send.
fn publish(
    client: Client,
    room: &str,
    schedule: Vec<(usize, u64)>,
    drain: Duration,
    shared: &Shared,
) -> Publisher {
    let mut publisher = Publisher::default();
    let mut socket = match client.writer() {
        Ok(socket) => socket,
        Err(err) => {
            publisher.broken = Some(err.to_string());
            return publisher;
        }
    };
    let last_at = schedule.last().map_or(0, |&(_, at)| at);
    let acks_until = last_at.saturating_add(drain.as_nanos() as u64);
    let (sent_tx, sent_rx) = crossbeam_channel::unbounded::<(usize, u64)>();
    std::thread::scope(|scope| {
        let acks = scope.spawn(move || read_acks(client, &sent_rx, acks_until, shared));
        for (seq, at) in schedule {
            if shared.deadline.passed() {
                publisher.broken = Some("stopped at the run's deadline (--timeout)".to_string());
                break;
            }
            let now = shared.now_ns();
            if at > now {
                std::thread::sleep(Duration::from_nanos(at - now));
            }
            let sent = shared.now_ns();
            let mut line = request_line("/sendMessage", &[room, &message_text(seq, sent)]);
            line.push('\n');
            if let Err(err) = socket.send(&line) {
                publisher.broken = Some(format!("sending: {err}"));
                break;
            }
            publisher.sent += 1;
            publisher.last_send_ns = sent;
            if sent_tx.send((seq, sent)).is_err() {
                // The reply reader stopped (connection failed); it says why.
                break;
            }
        }
        drop(sent_tx);
        let acks = acks.join().expect("a reply reader panicked");
        publisher.acked = acks.acked;
        publisher.send_latency = acks.latency;
        publisher.errors = acks.errors;
        publisher.first_error = acks.first_error;
        if publisher.broken.is_none() {
            publisher.broken = acks.broken;
        }
    });
    publisher
}

/// The replies one publisher got.
#[derive(Default)]
struct Acks {
    acked: Vec<usize>,
    latency: Samples,
    errors: u64,
    first_error: Option<String>,
    broken: Option<String>,
}

/// Reads one reply per request sent, in order, until every request is
/// answered or `until` (nanoseconds after the epoch) passes.
fn read_acks(
    mut client: Client,
    sent: &crossbeam_channel::Receiver<(usize, u64)>,
    until: u64,
    shared: &Shared,
) -> Acks {
    let mut acks = Acks::default();
    let time_left = || Duration::from_nanos(until.saturating_sub(shared.now_ns()));
    loop {
        let (seq, sent_ns) = match sent.recv_timeout(time_left().max(POLL)) {
            Ok(request) => request,
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => {
                if shared.now_ns() >= until {
                    break;
                }
                continue;
            }
        };
        let reply = loop {
            if let Err(err) = client.set_read_timeout(Some(time_left().max(POLL))) {
                break Err(ClientError::Io(err));
            }
            match client.read_reply() {
                Err(ClientError::TimedOut) if shared.now_ns() < until => continue,
                other => break other,
            }
        };
        match reply {
            Ok(201) => {
                acks.acked.push(seq);
                acks.latency
                    .push_nanos(shared.now_ns().saturating_sub(sent_ns));
            }
            Ok(_) => {
                acks.errors += 1;
                acks.first_error
                    .get_or_insert_with(|| client.last_line().trim_end().to_string());
            }
            Err(ClientError::TimedOut) => break,
            Err(err) => {
                acks.broken = Some(format!("waiting for replies: {err}"));
                break;
            }
        }
    }
    acks
}
fn summarize(
    ctx: &Ctx,
    args: &FanoutArgs,
    planned: usize,
    start_ns: u64,
    publishers: Vec<Publisher>,
    readers: Vec<ReaderResult>,
) -> Report {
    let mut report = Report::new("fanout");
    report.param("subscribers", args.subscribers);
    report.param("publishers", args.publishers);
    report.param("rate", args.rate);
    report.param("seconds", args.seconds);
    report.param("users", args.users);
    base_params(&mut report, ctx);

    let mut acked = vec![false; planned];
    let mut send_latency = Samples::new();
    let mut errors = 0;
    let mut sent = 0;
    let mut last_send_ns = start_ns;
    for mut publisher in publishers {
        sent += publisher.sent;
        for &seq in &publisher.acked {
            acked[seq] = true;
        }
        send_latency.append(&mut publisher.send_latency);
        errors += publisher.errors;
        last_send_ns = last_send_ns.max(publisher.last_send_ns);
        if let Some(line) = publisher.first_error {
            report.problem(format!("error reply to /sendMessage: {line}"));
        }
        if let Some(why) = publisher.broken {
            report.problem(format!("a publisher stopped: {why}"));
        }
    }
    let acked_count = acked.iter().filter(|&&a| a).count() as u64;

    let mut latencies = Samples::new();
    let mut last_delivery_ns = start_ns;
    let (mut lost, mut duplicates, mut out_of_order, mut other) = (0u64, 0u64, 0u64, 0u64);
    let mut closed = 0;
    let mut first_closed = None;
    for mut reader in readers {
        latencies.append(&mut reader.latencies);
        last_delivery_ns = last_delivery_ns.max(reader.last_delivery_ns);
        for error in reader.errors {
            report.problem(format!("a subscriber reader: {error}"));
        }
        for tally in &reader.tallies {
            lost += (0..planned)
                .filter(|&seq| acked[seq] && !tally.has(seq))
                .count() as u64;
            duplicates += tally.duplicates;
            out_of_order += tally.out_of_order;
            other += tally.other_lines;
            if let Some(why) = &tally.closed {
                closed += 1;
                first_closed.get_or_insert_with(|| why.clone());
            }
        }
    }
    let deliveries = latencies.len() as u64;
    let publishing = Duration::from_nanos(last_send_ns.saturating_sub(start_ns));
    let delivering = Duration::from_nanos(last_delivery_ns.saturating_sub(start_ns));

    let unanswered = sent.saturating_sub(acked_count + errors);
    report.count("messages sent", "sent", sent);
    report.count("messages acked", "acked", acked_count);
    report.count("send error replies", "send_errors", errors);
    report.count("sends unanswered", "unanswered", unanswered);
    report.rate(
        "send rate offered",
        "send_rate_per_s",
        per_second(sent.saturating_sub(1), publishing),
        "msgs/s",
    );
    report.latency("send ack", "send_ack", send_latency.summary());
    report.count("deliveries", "deliveries", deliveries);
    report.count(
        "acked × subscribers",
        "deliveries_expected",
        acked_count * args.subscribers as u64,
    );
    report.rate(
        "delivery rate",
        "deliveries_per_s",
        per_second(deliveries, delivering),
        "deliveries/s",
    );
    report.latency("delivery latency", "delivery", latencies.summary());
    report.count("messages lost", "lost", lost);
    report.count("out of order", "out_of_order", out_of_order);
    report.count("duplicates", "duplicates", duplicates);
    report.count("subscribers disconnected", "disconnected", closed);
    if unanswered > 0 {
        report.problem(format!(
            "{unanswered} sends got no reply within {}s after the last one",
            args.drain
        ));
    }
    if lost > 0 {
        report.problem(format!(
            "{lost} acknowledged deliveries never reached their subscriber within {}s of the end",
            args.drain
        ));
    }
    if out_of_order > 0 {
        report.problem(format!(
            "{out_of_order} message events arrived out of id order"
        ));
    }
    if duplicates > 0 {
        report.problem(format!("{duplicates} message events arrived twice"));
    }
    if closed > 0 {
        report.problem(format!(
            "{closed} subscribers lost their connection (first: {})",
            first_closed.unwrap_or_default()
        ));
    }
    if other > 0 {
        report.note(format!(
            "{other} other lines (join/exit events) were ignored"
        ));
    }
    report
}
