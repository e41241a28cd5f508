//! `history`: a database of N messages spread over a few rooms, written
//! straight through the store (not timed as server work), then a server
//! spawned on it: its start-up time until `listening on`, and the latency of
//! `/fetchMessages|room|after_id|100` after random cursors and of
//! `/fetchMessages|room` (the latest 100). Needs `--spawn`.

use serde::de::IgnoredAny;

use super::queries::{Timing, XorShift, expect_count, filled_report};
use super::{CpuWindow, base_params, clap_defaults, conclude};
use crate::bench::report::Report;
use crate::bench::setup::{self, Cast};
use crate::bench::target::{Target, Workspace};
use crate::bench::{BenchError, Ctx, ServerChoice, progress};
use crate::pipe::request::request_line;

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
    let fill = setup::fill(
        ctx,
        &workspace.db(),
        &cast,
        args.rooms,
        args.messages,
        false,
        |i| format!("history message {i}: the quick brown fox jumps over the lazy dog"),
    )?;

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
    let mut report = filled_report("history", args.messages, args.rooms, args.queries, &fill);
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

fn measure(
    ctx: &Ctx,
    args: &HistoryArgs,
    cast: &Cast,
    target: &Target,
    mut report: Report,
) -> Result<Report, BenchError> {
    let mut rng = XorShift::for_run(ctx);
    let bar = progress::bar(ctx, 2 * args.queries as u64, "fetching");
    let mut timing = Timing::logged_in(ctx, target, &cast.accounts[0], &bar)?;
    let cpu = CpuWindow::start(target);
    let mut short_pages = 0u64;
    let mut after = timing.requests(
        "fetching history",
        args.queries,
        |_| {
            let cursor = rng.next() % (args.messages + 1);
            request_line("/fetchMessages", &[&cast.room, &cursor.to_string(), "100"])
        },
        |client| {
            let page: Vec<IgnoredAny> = client.last_data().map_err(|err| err.to_string())?;
            short_pages += u64::from(page.len() < 100);
            Ok(())
        },
    )?;
    let expected_latest = 100.min(args.messages.div_ceil(args.rooms) as usize);
    let latest_line = request_line("/fetchMessages", &[&cast.room]);
    let mut latest = timing.requests(
        "fetching history",
        args.queries,
        |_| latest_line.clone(),
        |client| expect_count(client, expected_latest, "messages in a latest-100 fetch"),
    )?;
    bar.finish_and_clear();
    report.latency("fetch after cursor", "fetch_after", after.summary());
    report.latency("fetch latest", "fetch_latest", latest.summary());
    cpu.finish(target, &mut report);
    base_params(&mut report, ctx);
    timing.failures.report(&mut report, "fetches");
    report.note(format!(
        "{short_pages} of {} cursor fetches came back with fewer than 100 messages (cursor near the end)",
        args.queries
    ));
    Ok(report)
}
