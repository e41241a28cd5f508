//! `search`: `/search` latency on a database of N messages in R rooms that
//! the searching user is a member of. One word ("needle") is in about 1 % of
//! the messages, spread over every room; another is in about 0.02 %.
//! Needs `--spawn`.

use super::queries::{Timing, XorShift, expect_count, filled_report, filled_server};
use super::{CpuWindow, base_params, clap_defaults, conclude};
use crate::bench::report::Report;
use crate::bench::setup::Cast;
use crate::bench::{BenchError, Ctx, progress};
use crate::pipe::request::request_line;

/// Users the messages are attributed to; all are members of every room.
const AUTHORS: usize = 10;

/// One message in this many holds the common word.
const COMMON_EVERY: u64 = 101;

/// Distinct rare words; each is in one message of this many.
const RARE_WORDS: u64 = 5_000;

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
    let common = if i.is_multiple_of(COMMON_EVERY) {
        " needle"
    } else {
        ""
    };
    format!(
        "message {i} about topic{} from the quick brown fox{common}",
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

fn measure(
    ctx: &Ctx,
    args: &SearchArgs,
    cast: &Cast,
    rooms: &[String],
    target: &crate::bench::target::Target,
    mut report: Report,
) -> Result<Report, BenchError> {
    let mut rng = XorShift::for_run(ctx);
    let bar = progress::bar(ctx, 3 * args.queries as u64, "searching");
    let mut timing = Timing::logged_in(ctx, target, &cast.accounts[0], &bar)?;
    let cpu = CpuWindow::start(target);
    // As many results as there are (at most the default 50).
    let common_matches = args.messages.div_ceil(COMMON_EVERY).min(50) as usize;
    let mut everywhere = timing.requests(
        "searching",
        args.queries,
        |_| request_line("/search", &["needle"]),
        |client| expect_count(client, common_matches, "messages found"),
    )?;
    let mut in_room = timing.requests(
        "searching",
        args.queries,
        |_| {
            let room = &rooms[(rng.next() % rooms.len() as u64) as usize];
            request_line("/search", &["needle", room])
        },
        |_| Ok(()),
    )?;
    let mut rare = timing.requests(
        "searching",
        args.queries,
        |_| {
            let word = format!("topic{}", rng.next() % RARE_WORDS.min(args.messages));
            request_line("/search", &[&word])
        },
        |_| Ok(()),
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
