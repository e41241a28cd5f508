//! `unread`: `/getUnread` latency for a member of R rooms holding N
//! messages, who has read half of each of half the rooms. Needs `--spawn`.

use super::queries::{Timing, expect_count, filled_report, filled_server};
use super::{CpuWindow, base_params, clap_defaults, conclude};
use crate::bench::report::Report;
use crate::bench::setup::Cast;
use crate::bench::{BenchError, Ctx, progress};
use crate::store::Place;
use crate::store::seed::Seeder;

/// Users the messages are attributed to; all are members of every room.
const AUTHORS: usize = 4;

#[derive(Debug, Clone, clap::Args)]
pub struct UnreadArgs {
    /// Messages in the database.
    #[arg(long, default_value_t = 1_000_000)]
    pub messages: u64,
    /// Rooms the reader is a member of.
    #[arg(long, default_value_t = 1_000)]
    pub rooms: u64,
    /// `/getUnread` requests timed.
    #[arg(long, default_value_t = 1000)]
    pub queries: usize,
}

impl Default for UnreadArgs {
    fn default() -> Self {
        clap_defaults()
    }
}

impl UnreadArgs {
    pub fn smoke() -> UnreadArgs {
        UnreadArgs {
            messages: 5_000,
            rooms: 20,
            queries: 50,
        }
    }
}

pub fn run(ctx: &Ctx, args: &UnreadArgs) -> Result<Report, BenchError> {
    if args.messages == 0 || args.rooms == 0 || args.queries == 0 {
        return Err(BenchError::Usage(
            "unread needs --messages, --rooms and --queries above 0".to_string(),
        ));
    }
    let cast = Cast::new(&ctx.tag, "unread", AUTHORS);
    let reader = cast.accounts[0].username.clone();
    let (target, filled) = filled_server(
        ctx,
        "unread",
        &cast,
        args.rooms,
        args.messages,
        |i| format!("message {i}: the quick brown fox jumps over the lazy dog"),
        |db, filled| read_half(db, &reader, &filled.rooms),
    )?;
    let report = filled_report("unread", args.messages, args.rooms, args.queries, &filled);
    let measured = measure(ctx, args, &cast, &target, report);
    conclude(target, measured)
}

/// Marks the reader's position halfway through every other room.
fn read_half(db: &std::path::Path, reader: &str, rooms: &[String]) -> Result<(), BenchError> {
    let seeder = Seeder::open(db)?;
    seeder.transaction(|db| {
        let reader = db
            .find_user(reader)?
            .ok_or_else(|| BenchError::Server("the reader is missing".to_string()))?;
        for name in rooms.iter().step_by(2) {
            let Some(room) = db.find_room(name)? else {
                continue;
            };
            let place = Place::Room(room);
            let messages = db.messages(
                &place,
                crate::store::Page::After {
                    id: 0,
                    limit: 1_000,
                },
            )?;
            if let Some(middle) = messages.get(messages.len() / 2) {
                db.mark_read(&place, &reader, middle.id)?;
            }
        }
        Ok::<_, BenchError>(())
    })?;
    seeder.finish()?;
    Ok(())
}

fn measure(
    ctx: &Ctx,
    args: &UnreadArgs,
    cast: &Cast,
    target: &crate::bench::target::Target,
    mut report: Report,
) -> Result<Report, BenchError> {
    let bar = progress::bar(ctx, args.queries as u64, "getting unread counts");
    let mut timing = Timing::logged_in(ctx, target, &cast.accounts[0], &bar)?;
    let cpu = CpuWindow::start(target);
    let expected = args.rooms as usize;
    let mut samples = timing.requests(
        "getting unread counts",
        args.queries,
        |_| "/getUnread".to_string(),
        |client| expect_count(client, expected, "entries"),
    )?;
    bar.finish_and_clear();
    report.latency("getUnread", "unread", samples.summary());
    cpu.finish(target, &mut report);
    base_params(&mut report, ctx);
    timing.failures.report(&mut report, "requests");
    Ok(report)
}
