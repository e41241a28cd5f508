//! `search`: `/search` latency on a database of N messages in R rooms that
//! the searching user is a member of. One word ("needle") is in about 1 % of
//! the messages, spread over every room; another is in about 0.02 %.
//! Needs `--spawn`.
//!
//! Every reply is checked against the fill: message `i` went to room
//! `i % rooms` and its text names `i`, so the bench knows exactly which
//! messages each search must return, newest (highest `i`) first, up to the
//! limit. A missing, extra or misplaced result is a problem.

use std::cell::Cell;

use super::queries::{Timing, XorShift, filled_report, filled_server};
use super::{CpuWindow, base_params, clap_defaults, conclude};
use crate::bench::client::Client;
use crate::bench::report::Report;
use crate::bench::setup::Cast;
use crate::bench::{BenchError, Ctx, progress};
use crate::pipe::request::request_line;
use crate::wire::DEFAULT_SEARCH_LIMIT;

/// Users the messages are attributed to; all are members of every room.
const AUTHORS: usize = 10;

/// One message in this many holds the common word.
const COMMON_EVERY: u64 = 101;

/// Distinct rare words; each is in one message of this many.
const RARE_WORDS: u64 = 5_000;

/// The common word.
const COMMON_WORD: &str = "needle";

/// Results a `/search` without a limit returns at most (the protocol's).
const DEFAULT_LIMIT: usize = DEFAULT_SEARCH_LIMIT as usize;

#[derive(Debug, Clone, clap::Args)]
pub struct SearchArgs {
    /// Messages in the database.
    #[arg(long, default_value_t = 1_000_000)]
    pub messages: u64,
    /// Rooms the messages are dealt out to in turn.
    #[arg(long, default_value_t = 100)]
    pub rooms: u64,
    /// Searches of each kind.
    #[arg(long, default_value_t = 1000)]
    pub queries: usize,
}

impl Default for SearchArgs {
    fn default() -> Self {
        clap_defaults()
    }
}

impl SearchArgs {
    pub fn smoke() -> SearchArgs {
        SearchArgs {
            messages: 5_000,
            rooms: 5,
            queries: 50,
        }
    }
}

/// Message `i`'s text.
fn text(i: u64) -> String {
    let (space, common) = if i.is_multiple_of(COMMON_EVERY) {
        (" ", COMMON_WORD)
    } else {
        ("", "")
    };
    format!(
        "message {i} about topic{} from the quick brown fox{space}{common}",
        i % RARE_WORDS
    )
}

pub fn run(ctx: &Ctx, args: &SearchArgs) -> Result<Report, BenchError> {
    if args.messages == 0 || args.rooms == 0 || args.queries == 0 {
        return Err(BenchError::Usage(
            "search needs --messages, --rooms and --queries above 0".to_string(),
        ));
    }
    let cast = Cast::new(&ctx.tag, "search", AUTHORS);
    let (target, filled) = filled_server(
        ctx,
        "search",
        &cast,
        args.rooms,
        args.messages,
        text,
        |_, _| Ok(()),
    )?;
    let report = filled_report("search", args.messages, args.rooms, args.queries, &filled);
    let measured = measure(ctx, args, &cast, &filled.rooms, &target, report);
    conclude(target, measured)
}

/// The fields of a search result the check looks at.
#[derive(serde::Deserialize)]
struct Found {
    room: Option<String>,
    text: String,
}

/// Checks that the reply is exactly messages `expected` (fill indexes,
/// newest first), each in the room the fill put it in.
fn check_results(
    client: &Client,
    expected: &[u64],
    rooms: &[String],
    what: &str,
) -> Result<(), String> {
    let found: Vec<Found> = client.last_data().map_err(|err| err.to_string())?;
    if found.len() != expected.len() {
        return Err(format!(
            "{what}: {} results, expected {}",
            found.len(),
            expected.len()
        ));
    }
    for (k, (got, &i)) in found.iter().zip(expected).enumerate() {
        let room = &rooms[(i % rooms.len() as u64) as usize];
        if got.room.as_deref() != Some(room.as_str()) || got.text != text(i) {
            return Err(format!(
                "{what}: result {k} is {:?} in {:?}, expected {:?} in {room:?}",
                got.text,
                got.room,
                text(i)
            ));
        }
    }
    Ok(())
}

/// The fill indexes of the messages holding the common word, newest first:
/// the latest [`DEFAULT_LIMIT`] of all, and of each room.
fn common_expected(messages: u64, rooms: u64) -> (Vec<u64>, Vec<Vec<u64>>) {
    let mut everywhere = Vec::new();
    let mut per_room: Vec<Vec<u64>> = (0..rooms).map(|_| Vec::new()).collect();
    let newest = (messages - 1) / COMMON_EVERY * COMMON_EVERY;
    for i in (0..=newest).rev().step_by(COMMON_EVERY as usize) {
        if everywhere.len() < DEFAULT_LIMIT {
            everywhere.push(i);
        }
        let room = &mut per_room[(i % rooms) as usize];
        if room.len() < DEFAULT_LIMIT {
            room.push(i);
        }
    }
    (everywhere, per_room)
}

/// The fill indexes of the messages holding rare word `w`, newest first, at
/// most [`DEFAULT_LIMIT`].
fn rare_expected(messages: u64, w: u64) -> Vec<u64> {
    if w >= messages {
        return Vec::new();
    }
    let newest = w + (messages - 1 - w) / RARE_WORDS * RARE_WORDS;
    (w..=newest)
        .rev()
        .step_by(RARE_WORDS as usize)
        .take(DEFAULT_LIMIT)
        .collect()
}

fn measure(
    ctx: &Ctx,
    args: &SearchArgs,
    cast: &Cast,
    rooms: &[String],
    target: &crate::bench::target::Target,
    mut report: Report,
) -> Result<Report, BenchError> {
    if rooms.len() as u64 != args.rooms {
        return Err(BenchError::Server(format!(
            "the fill made {} rooms, not {}",
            rooms.len(),
            args.rooms
        )));
    }
    let mut rng = XorShift::for_run(ctx);
    let (common, common_in_room) = common_expected(args.messages, args.rooms);
    let bar = progress::bar(ctx, 3 * args.queries as u64, "searching");
    let mut timing = Timing::logged_in(ctx, target, &cast.accounts[0], &bar)?;
    let cpu = CpuWindow::start(target);
    let mut everywhere = timing.requests(
        "searching",
        args.queries,
        |_| request_line("/search", &[COMMON_WORD]),
        |client| check_results(client, &common, rooms, COMMON_WORD),
    )?;
    let chosen = Cell::new(0u64);
    let mut in_room = timing.requests(
        "searching",
        args.queries,
        |_| {
            chosen.set(rng.next() % args.rooms);
            request_line("/search", &[COMMON_WORD, &rooms[chosen.get() as usize]])
        },
        |client| {
            let k = chosen.get() as usize;
            check_results(
                client,
                &common_in_room[k],
                rooms,
                &format!("{COMMON_WORD} in {}", rooms[k]),
            )
        },
    )?;
    let mut rare = timing.requests(
        "searching",
        args.queries,
        |_| {
            chosen.set(rng.next() % RARE_WORDS.min(args.messages));
            request_line("/search", &[&format!("topic{}", chosen.get())])
        },
        |client| {
            let w = chosen.get();
            check_results(
                client,
                &rare_expected(args.messages, w),
                rooms,
                &format!("topic{w}"),
            )
        },
    )?;
    bar.finish_and_clear();
    report.latency(
        "search, 1 % word, everywhere",
        "search_common",
        everywhere.summary(),
    );
    report.latency(
        "search, 1 % word, one room",
        "search_common_room",
        in_room.summary(),
    );
    report.latency(
        "search, rare word, everywhere",
        "search_rare",
        rare.summary(),
    );
    cpu.finish(target, &mut report);
    base_params(&mut report, ctx);
    timing.failures.report(&mut report, "searches");
    Ok(report)
}
