//! `unread`: `/getUnread` latency for a member of R rooms holding N
//! messages, who has read half of each of half the rooms. Needs `--spawn`.
//!
//! Every reply is checked against the database as the bench left it: while
//! marking the reader's positions it reads each room's messages back and
//! works out, by the protocol's rule, what each entry must say (the position
//! is the later of the mark and the reader's own last message; `unread`
//! counts the others' messages after it). A wrong entry is a problem.

use super::queries::{Timing, expect_count, filled_report, filled_server, stored_messages};
use super::{CpuWindow, base_params, clap_defaults, conclude};
use crate::bench::client::Client;
use crate::bench::report::Report;
use crate::bench::setup::Cast;
use crate::bench::{BenchError, Ctx, progress};
use crate::store::Place;
use crate::store::seed::Seeder;
use crate::wire::Unread;

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
    let mut expected = Vec::new();
    let (target, filled) = filled_server(
        ctx,
        "unread",
        &cast,
        args.rooms,
        args.messages,
        |i| format!("message {i}: the quick brown fox jumps over the lazy dog"),
        |db, filled| {
            expected = read_half(db, &reader, &filled.rooms)?;
            Ok(())
        },
    )?;
    let report = filled_report("unread", args.messages, args.rooms, args.queries, &filled);
    let measured = measure(ctx, args, &cast, &expected, &target, report);
    conclude(target, measured)
}

/// Marks the reader's position halfway through every other room, and
/// returns what `/getUnread` must then say, sorted by name as the protocol
/// sorts it.
fn read_half(
    db: &std::path::Path,
    reader: &str,
    rooms: &[String],
) -> Result<Vec<Unread>, BenchError> {
    let seeder = Seeder::open(db)?;
    let mut expected = seeder.transaction(|db| {
        let reader = db
            .find_user(reader)?
            .ok_or_else(|| BenchError::Server("the reader is missing".to_string()))?;
        let mut expected = Vec::with_capacity(rooms.len());
        for (k, name) in rooms.iter().enumerate() {
            // The room's messages, oldest first: id and whether the reader
            // sent it.
            let messages: Vec<(i64, bool)> = stored_messages(db, name)?
                .iter()
                .map(|m| (m.id, m.username == reader.username))
                .collect();
            let mut mark = 0;
            if k % 2 == 0
                && let Some(&(middle, _)) = messages.get(messages.len() / 2)
            {
                let room = db
                    .find_room(name)?
                    .ok_or_else(|| BenchError::Server(format!("the room {name} is missing")))?;
                db.mark_read(&Place::Room(room), &reader, middle)?;
                mark = middle;
            }
            // Sending moves one's own position; a mark only moves it forward.
            let own = messages
                .iter()
                .filter(|&&(_, mine)| mine)
                .map(|&(id, _)| id)
                .max()
                .unwrap_or(0);
            let position = mark.max(own);
            let unread = messages
                .iter()
                .filter(|&&(id, mine)| id > position && !mine)
                .count();
            expected.push(Unread {
                room: name.clone(),
                unread: unread as i64,
                last_read_id: position,
                last_id: messages.last().map_or(0, |&(id, _)| id),
            });
        }
        Ok::<_, BenchError>(expected)
    })?;
    seeder.finish()?;
    expected.sort_by_key(|entry| entry.room.to_lowercase());
    Ok(expected)
}

/// Checks a `/getUnread` reply against `expected`, entry by entry.
fn check_entries(client: &Client, expected: &[Unread]) -> Result<(), String> {
    expect_count(client, expected.len(), "entries")?;
    let entries: Vec<Unread> = client.last_data().map_err(|err| err.to_string())?;
    match entries.iter().zip(expected).find(|(got, want)| got != want) {
        Some((got, want)) => Err(format!("got {got:?}, expected {want:?}")),
        None => Ok(()),
    }
}

fn measure(
    ctx: &Ctx,
    args: &UnreadArgs,
    cast: &Cast,
    expected: &[Unread],
    target: &crate::bench::target::Target,
    mut report: Report,
) -> Result<Report, BenchError> {
    let bar = progress::bar(ctx, args.queries as u64, "getting unread counts");
    let mut timing = Timing::logged_in(ctx, target, &cast.accounts[0], &bar)?;
    let cpu = CpuWindow::start(target);
    let mut samples = timing.requests(
        "getting unread counts",
        args.queries,
        |_| "/getUnread".to_string(),
        |client| check_entries(client, expected),
    )?;
    bar.finish_and_clear();
    report.latency("getUnread", "unread", samples.summary());
    cpu.finish(target, &mut report);
    base_params(&mut report, ctx);
    timing.failures.report(&mut report, "requests");
    Ok(report)
}
