//! `history`: a database of N messages spread over a few rooms, written
//! straight through the store (not timed as server work), then a server
//! spawned on it: its start-up time until `listening on`, and the latency of
//! `/fetchMessages|room|after_id|100` after random cursors and of
//! `/fetchMessages|room` (the latest 100). Needs `--spawn`.
//!
//! Every page is checked against the fill: before the server starts, the
//! queried room's ids are read back from the database, so each reply must be
//! exactly the messages after its cursor (or the latest ones), in order,
//! with the text the fill gave them. A short or wrong page is a problem.

use std::cell::Cell;
use std::path::Path;

use super::queries::{Timing, XorShift, filled_report, stored_messages};
use super::{CpuWindow, base_params, clap_defaults, conclude};
use crate::bench::client::Client;
use crate::bench::report::Report;
use crate::bench::setup::{self, Cast};
use crate::bench::target::{Target, Workspace};
use crate::bench::{BenchError, Ctx, ServerChoice, progress};
use crate::pipe::request::request_line;
use crate::store::seed::Seeder;
use crate::wire::DEFAULT_FETCH_LIMIT;

/// Users the messages are attributed to.
const AUTHORS: usize = 10;

/// Messages per page: the limit the cursor fetches ask for, and what the
/// protocol gives `/fetchMessages|room` (the latest 100).
const PAGE: usize = DEFAULT_FETCH_LIMIT as usize;

/// Message `i`'s text.
fn text(i: u64) -> String {
    format!("history message {i}: the quick brown fox jumps over the lazy dog")
}

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
        text,
    )?;
    let ids = room_ids(&workspace.db(), &cast.room)?;
    // Message `i` went to room `i % rooms`: the queried room, the first,
    // holds messages 0, rooms, 2 × rooms, ... in id order.
    let in_room = args.messages.div_ceil(args.rooms);
    if ids.len() as u64 != in_room {
        return Err(BenchError::Server(format!(
            "the fill left {} messages in {}, not {in_room}",
            ids.len(),
            cast.room
        )));
    }

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
    // An even count's median is the mean of its two middle values.
    let middle = sorted.len() / 2;
    let median = if sorted.len() % 2 == 0 {
        (sorted[middle - 1] + sorted[middle]) / 2
    } else {
        sorted[middle]
    };
    report.millis("start-up, median", "startup_median_ms", median);
    report.millis("start-up, max", "startup_max_ms", sorted[sorted.len() - 1]);
    let measured = measure(ctx, args, &cast, &ids, &target, report);
    conclude(target, measured)
}

/// The ids of `room`'s messages in the database, oldest first.
fn room_ids(db: &Path, room: &str) -> Result<Vec<i64>, BenchError> {
    let seeder = Seeder::open(db)?;
    let ids = seeder.transaction(|db| {
        let messages = stored_messages(db, room)?;
        Ok::<_, BenchError>(
            messages
                .iter()
                .map(|message| message.id)
                .collect::<Vec<i64>>(),
        )
    })?;
    seeder.finish()?;
    Ok(ids)
}

/// The fields of a fetched message the check looks at.
#[derive(serde::Deserialize)]
struct Fetched {
    id: i64,
    room: Option<String>,
    text: String,
}

/// Checks that the reply is the room's messages from index `start` of `ids`
/// on, at most [`PAGE`] of them, oldest first, each with its fill text.
fn check_page(
    client: &Client,
    ids: &[i64],
    start: usize,
    room: &str,
    rooms: u64,
    what: &str,
) -> Result<(), String> {
    let page: Vec<Fetched> = client.last_data().map_err(|err| err.to_string())?;
    let expected = &ids[start.min(ids.len())..];
    let expected = &expected[..expected.len().min(PAGE)];
    if page.len() != expected.len() {
        return Err(format!(
            "{what}: {} messages, expected {}",
            page.len(),
            expected.len()
        ));
    }
    for (k, (got, &id)) in page.iter().zip(expected).enumerate() {
        let i = (start + k) as u64 * rooms;
        if got.id != id {
            return Err(format!(
                "{what}: message {k} has id {}, expected {id}",
                got.id
            ));
        }
        if got.room.as_deref() != Some(room) || got.text != text(i) {
            return Err(format!(
                "{what}: message {id} is {:?} in {:?}, expected {:?} in {room:?}",
                got.text,
                got.room,
                text(i)
            ));
        }
    }
    Ok(())
}

fn measure(
    ctx: &Ctx,
    args: &HistoryArgs,
    cast: &Cast,
    ids: &[i64],
    target: &Target,
    mut report: Report,
) -> Result<Report, BenchError> {
    let mut rng = XorShift::for_run(ctx);
    let bar = progress::bar(ctx, 2 * args.queries as u64, "fetching");
    let mut timing = Timing::logged_in(ctx, target, &cast.accounts[0], &bar)?;
    let cpu = CpuWindow::start(target);
    // Cursors run from 0 to the room's newest id.
    let newest = ids.last().copied().unwrap_or(0).max(0) as u64;
    let cursor = Cell::new(0u64);
    let mut short_pages = 0u64;
    let limit = PAGE.to_string();
    let mut after = timing.requests(
        "fetching history",
        args.queries,
        |_| {
            cursor.set(rng.next() % (newest + 1));
            request_line(
                "/fetchMessages",
                &[&cast.room, &cursor.get().to_string(), &limit],
            )
        },
        |client| {
            let cursor = cursor.get();
            let start = ids.partition_point(|&id| id as u64 <= cursor);
            short_pages += u64::from(ids.len() - start < PAGE);
            check_page(
                client,
                ids,
                start,
                &cast.room,
                args.rooms,
                &format!("after cursor {cursor}"),
            )
        },
    )?;
    let latest_line = request_line("/fetchMessages", &[&cast.room]);
    let latest_start = ids.len().saturating_sub(PAGE);
    let mut latest = timing.requests(
        "fetching history",
        args.queries,
        |_| latest_line.clone(),
        |client| {
            check_page(
                client,
                ids,
                latest_start,
                &cast.room,
                args.rooms,
                "latest-100 fetch",
            )
        },
    )?;
    bar.finish_and_clear();
    report.latency("fetch after cursor", "fetch_after", after.summary());
    report.latency("fetch latest", "fetch_latest", latest.summary());
    cpu.finish(target, &mut report);
    base_params(&mut report, ctx);
    timing.failures.report(&mut report, "fetches");
    report.note(format!(
        "{short_pages} of {} cursors had fewer than {PAGE} messages after them (near the end), \
         so their pages were short",
        args.queries
    ));
    Ok(report)
}
