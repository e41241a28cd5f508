//! `idle`: K logged-in connections that send nothing. On a spawned server,
//! measures its resident memory (`VmRSS` of `/proc/PID/status`) before and
//! after, divided by K; on a remote server the memory is n/a and the scenario
//! only shows that K connections are held.
//!
//! After the second reading every connection sends `/ping` and must get its
//! `pong`: "connections held" is how many did, the memory is divided by that
//! number, and a connection the server closed (or that answered wrong) is a
//! problem.
//!
//! Before the "before" reading, a few connections log in and leave, so that
//! what every server allocates once (pooled database connections, the hub's
//! tables) is not counted against each idle connection.

use std::time::{Duration, Instant};

use super::{base_params, clap_defaults, conclude};
use crate::bench::client::{Client, ClientError, IO_TIMEOUT};
use crate::bench::report::Report;
use crate::bench::setup::{self, Cast};
use crate::bench::target::Target;
use crate::bench::{BenchError, Ctx};

/// How long the server gets to settle before a memory reading.
const SETTLE: Duration = Duration::from_secs(1);
/// Connections that log in and leave before the first reading.
const WARM_UP: usize = 16;
/// The least time a reply is still awaited once the others' replies had
/// [`IO_TIMEOUT`] to come.
const LAST_CHANCE: Duration = Duration::from_millis(10);

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
    // Every connection must still be there and answer.
    let alive = ping_all(&mut clients);
    let held = alive.answered as u64;

    let mut report = Report::new("idle");
    report.param("connections", args.connections);
    report.param("users", args.users);
    base_params(&mut report, ctx);
    report.count("connections held", "connections", held);
    match (before, after) {
        (Some(before), Some(after)) if held > 0 => {
            report.amount("server RSS before", "rss_before_kib", before, "KiB");
            report.amount("server RSS after", "rss_after_kib", after, "KiB");
            let per = after.saturating_sub(before) as f64 / held as f64;
            report.number(
                "RSS per connection",
                "rss_per_connection_kib",
                per,
                "KiB",
                2,
            );
        }
        (Some(before), Some(after)) => {
            report.amount("server RSS before", "rss_before_kib", before, "KiB");
            report.amount("server RSS after", "rss_after_kib", after, "KiB");
            report.na("RSS per connection", "rss_per_connection_kib");
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
    if alive.closed > 0 {
        report.problem(format!(
            "{} of {} idle connections were closed by the server (first: {})",
            alive.closed,
            clients.len(),
            alive.first_closed.unwrap_or_default()
        ));
    }
    if alive.wrong > 0 {
        report.problem(format!(
            "{} of {} idle connections did not answer /ping with 200 \"pong\" (first: {})",
            alive.wrong,
            clients.len(),
            alive.first_wrong.unwrap_or_default()
        ));
    }
    drop(clients);
    Ok(report)
}

/// What the connections answered to one `/ping` each.
#[derive(Default)]
struct Alive {
    answered: usize,
    closed: usize,
    first_closed: Option<String>,
    wrong: usize,
    first_wrong: Option<String>,
}

impl Alive {
    fn closed(&mut self, why: String) {
        self.closed += 1;
        self.first_closed.get_or_insert(why);
    }

    fn wrong(&mut self, what: String) {
        self.wrong += 1;
        self.first_wrong.get_or_insert(what);
    }
}

/// Sends `/ping` on every connection, then reads every reply: the first
/// reply may take [`IO_TIMEOUT`], the ones after it only what is left of
/// that (at least [`LAST_CHANCE`]), so a silent server costs one time-out,
/// not one per connection.
fn ping_all(clients: &mut [Client]) -> Alive {
    let mut alive = Alive::default();
    let mut sent = vec![false; clients.len()];
    for (client, sent) in clients.iter_mut().zip(&mut sent) {
        match client
            .writer()
            .and_then(|mut writer| writer.send("/ping\n"))
        {
            Ok(()) => *sent = true,
            Err(err) => alive.closed(format!("sending /ping: {err}")),
        }
    }
    let until = Instant::now() + IO_TIMEOUT;
    for (client, _) in clients.iter_mut().zip(&sent).filter(|(_, sent)| **sent) {
        let wait = until
            .saturating_duration_since(Instant::now())
            .max(LAST_CHANCE);
        if let Err(err) = client.set_read_timeout(Some(wait)) {
            alive.closed(err.to_string());
            continue;
        }
        match client.read_reply() {
            Ok(200)
                if client
                    .last_data::<String>()
                    .is_ok_and(|pong| pong == "pong") =>
            {
                alive.answered += 1;
            }
            Ok(_) => alive.wrong(client.last_line().trim_end().to_string()),
            Err(err @ (ClientError::Closed | ClientError::Io(_))) => alive.closed(err.to_string()),
            Err(err) => alive.wrong(err.to_string()),
        }
    }
    alive
}
