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
    done: Instant,
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
    let (start, senders) = std::thread::scope(|scope| {
        let handles: Vec<_> = clients
            .into_iter()
            .enumerate()
            .map(|(c, client)| {
                let (barrier, bar, room) = (&barrier, &bar, cast.room.as_str());
                scope.spawn(move || send_all(ctx, client, c, args.messages, room, barrier, bar))
            })
            .collect();
        barrier.wait();
        let start = Instant::now();
        let senders: Vec<Sender> = handles
            .into_iter()
            .map(|handle| handle.join().expect("a sender thread panicked"))
            .collect();
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
    Ok(report)
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
        done: Instant::now(),
    };
    barrier.wait();
    for i in 0..messages {
        if i % 256 == 0 && ctx.deadline.passed() {
            sender.stopped_at_deadline = true;
            break;
        }
        let mut line = request_line("/sendMessage", &[room, &format!("bench {c} {i}")]);
        line.push('\n');
        let sent = Instant::now();
        match client.request(&line) {
            Ok(201) => sender.samples.push(sent.elapsed()),
            Ok(_) => {
                sender.errors += 1;
                if sender.first_error.is_none() {
                    sender.first_error = Some(client.last_line().to_string());
                }
            }
            Err(err) => {
                sender.broken = Some(err);
                break;
            }
        }
        if i % 64 == 63 {
            bar.inc(64);
        }
    }
    sender.done = Instant::now();
    sender
}
