//! `history`: a database of N messages spread over a few rooms, written
//! straight through the store (not timed as server work), then a server
//! spawned on it: its start-up time until `listening on`, and the latency of
//! `/fetchMessages|room|after_id|100` after random cursors and of
//! `/fetchMessages|room` (the latest 100). Needs `--spawn`.

use std::time::{Duration, Instant};

use serde::de::IgnoredAny;

use super::{CpuWindow, base_params, clap_defaults, conclude};
use crate::bench::client::Client;
use crate::bench::report::Report;
use crate::bench::setup::{self, Cast};
use crate::bench::stats::{Samples, per_second};
use crate::bench::target::{Target, Workspace};
use crate::bench::{BenchError, Ctx, ServerChoice, progress};
use crate::pipe::request::request_line;
use crate::store::seed::Seeder;

/// Users the messages are attributed to.
const AUTHORS: usize = 10;

#[derive(Debug, Clone, clap::Args)]
pub struct HistoryArgs {
    /// Messages in the database, all rooms together.
    #[arg(long, default_value_t = 10_000_000)]
    pub messages: u64,
    /// Rooms the messages are dealt out to in turn; the first is queried.
    #[arg(long, default_value_t = 10)]
    pub rooms: u64,
    /// Queries of each kind.
    #[arg(long, default_value_t = 2000)]
    pub queries: usize,
    /// Times the server is started on the database (start-up time).
    #[arg(long, default_value_t = 3)]
    pub startups: usize,
}

impl Default for HistoryArgs {
    fn default() -> Self {
        clap_defaults()
    }
}

impl HistoryArgs {
    pub fn smoke() -> HistoryArgs {
        HistoryArgs {
            messages: 20_000,
            rooms: 4,
            queries: 100,
            startups: 1,
        }
    }
}

pub fn run(ctx: &Ctx, args: &HistoryArgs) -> Result<Report, BenchError> {
    if !matches!(ctx.server, ServerChoice::Spawn(_)) {
        return Err(BenchError::Usage(
            "history fills its own database; run it with --spawn".to_string(),
        ));
    }
    if args.messages == 0 || args.rooms == 0 || args.queries == 0 || args.startups == 0 {
        return Err(BenchError::Usage(
            "history needs --messages, --rooms, --queries and --startups above 0".to_string(),
        ));
    }
    let cast = Cast::new(&ctx.tag, "history", AUTHORS);
    let workspace = Workspace::new()?;
    setup::seed(&workspace.db(), &cast)?;
    let fill = fill(ctx, args, &cast, &workspace)?;

    let mut startups = Vec::with_capacity(args.startups);
    let mut server = None;
    for run in 0..args.startups {
        let mut started = setup::spawn(ctx, &workspace, 16)?;
        startups.push(started.startup);
        if run + 1 < args.startups {
            let ending = started.stop();
            if !ending.status.is_some_and(|s| s.success()) {
                return Err(BenchError::Server(format!(
                    "the server did not stop cleanly after start-up {}: {:?}",
                    run + 1,
                    ending.status
                )));
            }
        } else {
            server = Some(started);
        }
    }
    let server = server.expect("at least one start-up");
    let target = Target::Spawned { server, workspace };
    let mut report = Report::new("history");
    report.param("messages", args.messages);
    report.param("rooms", args.rooms);
    report.param("queries", args.queries);
    report.millis("fill time", "fill_ms", fill.elapsed);
    report.rate(
        "fill rate",
        "fill_per_s",
        per_second(args.messages, fill.elapsed),
        "msgs/s",
    );
    report.number(
        "database size",
        "db_mib",
        fill.bytes as f64 / (1024.0 * 1024.0),
        "MiB",
        1,
    );
    report.millis("start-up, first", "startup_first_ms", startups[0]);
    let mut sorted = startups.clone();
    sorted.sort();
    report.millis(
        "start-up, median",
        "startup_median_ms",
        sorted[sorted.len() / 2],
    );
    report.millis("start-up, max", "startup_max_ms", sorted[sorted.len() - 1]);
    let measured = measure(ctx, args, &cast, &target, report);
    conclude(target, measured)
}

struct Fill {
    elapsed: Duration,
    bytes: u64,
}

/// Adds the other rooms and `args.messages` messages to the seeded database.
fn fill(
    ctx: &Ctx,
    args: &HistoryArgs,
    cast: &Cast,
    workspace: &Workspace,
) -> Result<Fill, BenchError> {
    let db = workspace.db();
    let seeder = Seeder::open(&db)?;
    let (rooms, authors) = seeder.transaction(|db| {
        let first_room = db
            .find_room(&cast.room)?
            .ok_or_else(|| BenchError::Server("the seeded room is missing".to_string()))?;
        let mut authors = Vec::with_capacity(cast.accounts.len());
        for account in &cast.accounts {
            let credentials = db.find_credentials(&account.username)?.ok_or_else(|| {
                BenchError::Server(format!("the seeded user {} is missing", account.username))
            })?;
            authors.push(credentials.user);
        }
        let mut rooms = vec![first_room];
        for k in 1..args.rooms {
            let name = format!("{}-{k}", cast.room);
            let room = db
                .insert_room(&name, authors[0].id)?
                .ok_or_else(|| BenchError::Server(format!("room {name} already exists")))?;
            rooms.push(room);
        }
        Ok::<_, BenchError>((rooms, authors))
    })?;

    let bar = progress::bar(ctx, args.messages, "filling the database");
    let started = Instant::now();
    seeder.fill_messages(
        &rooms,
        &authors,
        args.messages,
        |i| format!("history message {i}: the quick brown fox jumps over the lazy dog"),
        |written| bar.inc(written),
    )?;
    seeder.finish()?;
    let elapsed = started.elapsed();
    bar.finish_and_clear();
    let bytes = std::fs::metadata(&db)?.len();
    Ok(Fill { elapsed, bytes })
}

fn measure(
    ctx: &Ctx,
    args: &HistoryArgs,
    cast: &Cast,
    target: &Target,
    mut report: Report,
) -> Result<Report, BenchError> {
    let reader = &cast.accounts[0];
    let mut client = Client::connect(target.addr())?;
    client.expect("/login", &[&reader.username, &reader.password], 200)?;
    let mut rng = XorShift::new(ctx.tag.bytes().fold(0x9e37_79b9_7f4a_7c15, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    }));

    let bar = progress::bar(ctx, 2 * args.queries as u64, "fetching");
    let cpu = CpuWindow::start(target);
    let mut after = Samples::with_capacity(args.queries);
    let mut short_pages = 0u64;
    let mut failures = Failures::default();
    for _ in 0..args.queries {
        ctx.deadline.check("fetching history")?;
        let cursor = rng.next() % (args.messages + 1);
        let line = request_line("/fetchMessages", &[&cast.room, &cursor.to_string(), "100"]);
        let (took, count) = timed_fetch(&mut client, &line, &mut failures)?;
        after.push(took);
        if count.is_some_and(|count| count < 100) {
            short_pages += 1;
        }
        bar.inc(1);
    }
    let mut latest = Samples::with_capacity(args.queries);
    let expected_latest = 100.min(args.messages.div_ceil(args.rooms) as usize);
    let mut wrong_latest = 0;
    let line = request_line("/fetchMessages", &[&cast.room]);
    for _ in 0..args.queries {
        ctx.deadline.check("fetching history")?;
        let (took, count) = timed_fetch(&mut client, &line, &mut failures)?;
        latest.push(took);
        if let Some(count) = count
            && count != expected_latest
        {
            wrong_latest += 1;
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    report.latency("fetch after cursor", "fetch_after", after.summary());
    report.latency("fetch latest", "fetch_latest", latest.summary());
    cpu.finish(target, &mut report);
    base_params(&mut report, ctx);
    if let Some(first) = failures.first {
        report.problem(format!(
            "{} fetches failed, the first with: {first}",
            failures.count
        ));
    }
    if wrong_latest > 0 {
        report.problem(format!(
            "{wrong_latest} latest-100 fetches did not return {expected_latest} messages"
        ));
    }
    report.note(format!(
        "{short_pages} of {} cursor fetches came back with fewer than 100 messages (cursor near the end)",
        args.queries
    ));
    Ok(report)
}

/// Fetches that got an error reply.
#[derive(Default)]
struct Failures {
    count: u64,
    first: Option<String>,
}

/// Sends one fetch and returns its round trip and how many messages came
/// (`None` for an error reply, recorded in `failures`).
fn timed_fetch(
    client: &mut Client,
    line: &str,
    failures: &mut Failures,
) -> Result<(Duration, Option<usize>), BenchError> {
    let mut line = line.to_string();
    line.push('\n');
    let sent = Instant::now();
    let status = client.request(&line)?;
    let took = sent.elapsed();
    if status != 200 {
        failures.count += 1;
        failures
            .first
            .get_or_insert_with(|| client.last_line().trim_end().to_string());
        return Ok((took, None));
    }
    let messages: Vec<IgnoredAny> = client.last_data()?;
    Ok((took, Some(messages.len())))
}

/// A small deterministic generator for cursors; quality is not a concern.
struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> XorShift {
        XorShift(seed.max(1))
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}
