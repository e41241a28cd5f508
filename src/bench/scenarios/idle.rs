//! `idle`: K logged-in connections that send nothing. On a spawned server,
//! measures its resident memory (`VmRSS` of `/proc/PID/status`) before and
//! after, divided by K; on a remote server the memory is n/a and the scenario
//! only shows that K connections are held.
//!
//! Before the "before" reading, a few connections log in and leave, so that
//! what every server allocates once (pooled database connections, the hub's
//! tables) is not counted against each idle connection.

use std::time::Duration;

use super::{base_params, clap_defaults, conclude};
use crate::bench::report::Report;
use crate::bench::setup::{self, Cast};
use crate::bench::target::Target;
use crate::bench::{BenchError, Ctx};

/// How long the server gets to settle before a memory reading.
const SETTLE: Duration = Duration::from_secs(1);
/// Connections that log in and leave before the first reading.
const WARM_UP: usize = 16;

#[derive(Debug, Clone, clap::Args)]
pub struct IdleArgs {
    /// Idle logged-in connections to hold.
    #[arg(long, default_value_t = 10_000)]
    pub connections: usize,
    /// Distinct users the connections log in as (round robin).
    #[arg(long, default_value_t = 10)]
    pub users: usize,
}

impl Default for IdleArgs {
    fn default() -> Self {
        clap_defaults()
    }
}

impl IdleArgs {
    pub fn smoke() -> IdleArgs {
        IdleArgs {
            connections: 50,
            users: 2,
        }
    }
}

pub fn run(ctx: &Ctx, args: &IdleArgs) -> Result<Report, BenchError> {
    if args.connections == 0 {
        return Err(BenchError::Usage(
            "idle needs --connections above 0".to_string(),
        ));
    }
    let cast = Cast::new(&ctx.tag, "idle", args.users.max(1));
    let target = setup::start(ctx, &cast, args.connections + WARM_UP)?;
    let measured = measure(ctx, args, &cast, &target);
    conclude(target, measured)
}

fn measure(ctx: &Ctx, args: &IdleArgs, cast: &Cast, target: &Target) -> Result<Report, BenchError> {
    let addr = target.addr();
    let warm = setup::sessions(
        |_| addr,
        cast,
        WARM_UP,
        ctx,
        "warming up",
        |_, c| c.expect("/ping", &[], 200),
    )?;
    drop(warm);
    std::thread::sleep(SETTLE);
    let before = target.spawned().map(|s| s.rss_kib()).transpose()?;
    let threads_before = target.spawned().map(|s| s.threads()).transpose()?;

    let mut clients = setup::sessions(
        |_| addr,
        cast,
        args.connections,
        ctx,
        "connecting",
        |_, _| Ok(()),
    )?;
    std::thread::sleep(SETTLE);
    let after = target.spawned().map(|s| s.rss_kib()).transpose()?;
    let threads_after = target.spawned().map(|s| s.threads()).transpose()?;
    // The server still answers with all of them connected.
    let answered = clients
        .first_mut()
        .map(|c| c.expect("/ping", &[], 200))
        .transpose();

    let mut report = Report::new("idle");
    report.param("connections", args.connections);
    report.param("users", args.users);
    base_params(&mut report, ctx);
    report.count("connections held", "connections", clients.len() as u64);
    match (before, after) {
        (Some(before), Some(after)) => {
            report.amount("server RSS before", "rss_before_kib", before, "KiB");
            report.amount("server RSS after", "rss_after_kib", after, "KiB");
            let per = after.saturating_sub(before) as f64 / args.connections as f64;
            report.number(
                "RSS per connection",
                "rss_per_connection_kib",
                per,
                "KiB",
                2,
            );
        }
        _ => {
            report.na("server RSS before", "rss_before_kib");
            report.na("server RSS after", "rss_after_kib");
            report.na("RSS per connection", "rss_per_connection_kib");
            report.note("memory is measured only on a server the bench spawned (--spawn)");
        }
    }
    if let (Some(before), Some(after)) = (threads_before, threads_after) {
        report.count("server threads before", "threads_before", before);
        report.count("server threads after", "threads_after", after);
    }
    if let Err(err) = answered {
        report.problem(format!(
            "the server did not answer /ping with {} idle connections: {err}",
            args.connections
        ));
    }
    drop(clients);
    Ok(report)
}
