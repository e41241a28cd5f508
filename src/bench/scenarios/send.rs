//! `send`: C connections, each its own user in one room, each sends M
//! messages one at a time and waits for every `201`. Measures acknowledged
//! messages per second and the round trip of each send.

use std::sync::Barrier;
use std::time::Instant;

use super::{CpuWindow, base_params, clap_defaults, conclude};
use crate::bench::client::{Client, ClientError};
use crate::bench::report::Report;
use crate::bench::setup::{self, Cast};
use crate::bench::stats::{Samples, per_second};
use crate::bench::target::Target;
use crate::bench::{BenchError, Ctx, progress};
use crate::pipe::request::request_line;

#[derive(Debug, Clone, clap::Args)]
pub struct SendArgs {
    /// Connections sending at once, each logged in as its own user.
    #[arg(long, default_value_t = 32)]
    pub connections: usize,
    /// Messages each connection sends.
    #[arg(long, default_value_t = 2000)]
    pub messages: usize,
}

impl Default for SendArgs {
    fn default() -> Self {
        clap_defaults()
    }
}

impl SendArgs {
    pub fn smoke() -> SendArgs {
        SendArgs {
            connections: 4,
            messages: 50,
        }
    }
}

/// What one sending connection saw.
struct Sender {
    samples: Samples,
    errors: u64,
    first_error: Option<String>,
    broken: Option<ClientError>,
    stopped_at_deadline: bool,
    /// When it sent its first message, and when it had its last reply.
    started: Instant,
    done: Instant,
    /// The message numbers answered `201`, in the order sent; and the one
    /// whose answer never came (the connection broke): it may be stored.
    acked: Vec<usize>,
    unanswered: Option<usize>,
    /// The connection, for checking what was stored, unless it broke.
    client: Option<Client>,
}

pub fn run(ctx: &Ctx, args: &SendArgs) -> Result<Report, BenchError> {
    if args.connections == 0 || args.messages == 0 {
        return Err(BenchError::Usage(
            "send needs --connections and --messages above 0".to_string(),
        ));
    }
    let cast = Cast::new(&ctx.tag, "send", args.connections);
    let target = setup::start(ctx, &cast, args.connections)?;
    let measured = measure(ctx, args, &cast, &target);
    conclude(target, measured)
}

fn measure(ctx: &Ctx, args: &SendArgs, cast: &Cast, target: &Target) -> Result<Report, BenchError> {
    // Connection i logs in as user i: every sender is its own user; with
    // several nodes, the connections are spread over them.
    let clients = setup::sessions(
        |i| target.node_for(i),
        cast,
        args.connections,
        ctx,
        "logging in",
        |_, _| Ok(()),
    )?;
    let total = (args.connections * args.messages) as u64;
    let bar = progress::bar(ctx, total, "sending");
    let barrier = Barrier::new(args.connections + 1);
    let cpu = CpuWindow::start(target);
    let (start, mut senders) = std::thread::scope(|scope| {
        let handles: Vec<_> = clients
            .into_iter()
            .enumerate()
            .map(|(c, client)| {
                let (barrier, bar, room) = (&barrier, &bar, cast.room.as_str());
                scope.spawn(move || send_all(ctx, client, c, args.messages, room, barrier, bar))
            })
            .collect();
        barrier.wait();
        let senders: Vec<Sender> = handles
            .into_iter()
            .map(|handle| handle.join().expect("a sender thread panicked"))
            .collect();
        // From the first message sent, by whichever sender: the main thread
        // may wake from the barrier after the senders have started.
        let start = senders
            .iter()
            .map(|sender| sender.started)
            .min()
            .unwrap_or_else(Instant::now);
        (start, senders)
    });
    bar.finish_and_clear();

    let mut samples = Samples::with_capacity(total as usize);
    let mut report = Report::new("send");
    report.param("connections", args.connections);
    report.param("messages", args.messages);
    base_params(&mut report, ctx);
    let mut errors = 0;
    let mut end = start;
    // Taken before the figures are made, and not timed: what was stored.
    let stored = check_stored(ctx, cast, &mut senders, &mut report);
    for mut sender in senders {
        samples.append(&mut sender.samples);
        errors += sender.errors;
        end = end.max(sender.done);
        if let Some(line) = sender.first_error {
            report.problem(format!("error reply to /sendMessage: {}", line.trim_end()));
        }
        if let Some(err) = sender.broken {
            report.problem(format!("a sending connection failed: {err}"));
        }
        if sender.stopped_at_deadline {
            report.problem("a sender stopped at the run's deadline (--timeout)");
        }
    }
    let acked = samples.len() as u64;
    let elapsed = end - start;
    report.count("acked messages", "acked", acked);
    report.count("error replies", "errors", errors);
    report.millis("elapsed", "elapsed_ms", elapsed);
    report.rate(
        "throughput",
        "throughput_per_s",
        per_second(acked, elapsed),
        "msgs/s",
    );
    report.latency("latency", "latency", samples.summary());
    cpu.finish(target, &mut report);
    if let Some(stored) = stored {
        report.count("stored, checked", "stored", stored);
    }
    Ok(report)
}

/// Reads the room back and checks that each connection's acknowledged
/// messages are stored exactly once each, in the order they were sent (a
/// message whose answer never came may be there or not). Returns how many
/// of the bench's messages were found, or `None` when no connection was left
/// to read with.
fn check_stored(
    ctx: &Ctx,
    cast: &Cast,
    senders: &mut [Sender],
    report: &mut Report,
) -> Option<u64> {
    let mut client = senders.iter_mut().find_map(|sender| sender.client.take())?;
    let mut found: Vec<Vec<usize>> = vec![Vec::new(); senders.len()];
    let (mut after, mut count) = (0_i64, 0_u64);
    loop {
        if ctx.deadline.passed() {
            report.problem("the stored messages were not all read back by the deadline");
            return None;
        }
        let page = client
            .call("/fetchMessages", &[&cast.room, &after.to_string(), "1000"])
            .and_then(|status| match status {
                200 => client.last_data::<Vec<crate::wire::Message>>(),
                _ => Err(ClientError::Unexpected {
                    request: "/fetchMessages".to_string(),
                    expected: 200,
                    line: client.last_line().trim_end().to_string(),
                }),
            });
        let page = match page {
            Ok(page) => page,
            Err(err) => {
                report.problem(format!("reading the stored messages back failed: {err}"));
                return None;
            }
        };
        for message in &page {
            if message.id <= after {
                report.problem(format!("fetch returned id {} after {after}", message.id));
                return None;
            }
            after = message.id;
            let numbers = message.text.strip_prefix("bench ").and_then(|rest| {
                let (c, i) = rest.split_once(' ')?;
                Some((c.parse::<usize>().ok()?, i.parse::<usize>().ok()?))
            });
            if let Some((c, i)) = numbers.filter(|(c, _)| *c < found.len()) {
                found[c].push(i);
                count += 1;
            }
        }
        if page.len() < 1000 {
            break;
        }
    }
    for (c, (sender, stored)) in senders.iter().zip(&found).enumerate() {
        let expected_with = sender
            .unanswered
            .map(|i| {
                let mut with = sender.acked.clone();
                with.push(i);
                with
            })
            .unwrap_or_default();
        if *stored != sender.acked && *stored != expected_with {
            let lost = sender.acked.iter().filter(|i| !stored.contains(i)).count();
            report.problem(format!(
                "connection {c}: {} messages acknowledged, {} stored, {lost} of the \
                 acknowledged missing (stored twice or out of order when none is)",
                sender.acked.len(),
                stored.len()
            ));
        }
    }
    Some(count)
}

fn send_all(
    ctx: &Ctx,
    mut client: Client,
    c: usize,
    messages: usize,
    room: &str,
    barrier: &Barrier,
    bar: &indicatif::ProgressBar,
) -> Sender {
    let mut sender = Sender {
        samples: Samples::with_capacity(messages),
        errors: 0,
        first_error: None,
        broken: None,
        stopped_at_deadline: false,
        started: Instant::now(),
        done: Instant::now(),
        acked: Vec::with_capacity(messages),
        unanswered: None,
        client: None,
    };
    barrier.wait();
    sender.started = Instant::now();
    for i in 0..messages {
        if ctx.deadline.passed() {
            sender.stopped_at_deadline = true;
            break;
        }
        let mut line = request_line("/sendMessage", &[room, &format!("bench {c} {i}")]);
        line.push('\n');
        let sent = Instant::now();
        match client.request(&line) {
            Ok(201) => {
                sender.samples.push(sent.elapsed());
                sender.acked.push(i);
            }
            Ok(_) => {
                sender.errors += 1;
                if sender.first_error.is_none() {
                    sender.first_error = Some(client.last_line().to_string());
                }
            }
            Err(err) => {
                sender.broken = Some(err);
                sender.unanswered = Some(i);
                break;
            }
        }
        if i % 64 == 63 {
            bar.inc(64);
        }
    }
    sender.done = Instant::now();
    if sender.broken.is_none() {
        let _ = client.set_read_timeout(Some(ctx.deadline.read_timeout()));
        sender.client = Some(client);
    }
    sender
}
