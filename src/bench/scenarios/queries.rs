//! What the read scenarios share: a database filled before the server
//! starts, then one client timing requests one at a time.

use std::path::Path;
use std::time::Instant;

use serde::de::IgnoredAny;

use crate::bench::client::Client;
use crate::bench::report::Report;
use crate::bench::setup::{self, Account, Cast, Filled};
use crate::bench::stats::{Samples, per_second};
use crate::bench::target::{Target, Workspace};
use crate::bench::{BenchError, Ctx, ServerChoice};
use crate::store::{Page, Place, Reads};
use crate::wire::Message;

/// Requests that got an error reply or a reply their check refused.
#[derive(Default)]
pub struct Failures {
    pub count: u64,
    pub first: Option<String>,
}

impl Failures {
    fn record(&mut self, what: String) {
        self.count += 1;
        self.first.get_or_insert(what);
    }

    /// Adds a problem to the report if anything failed.
    pub fn report(&self, report: &mut Report, what: &str) {
        if let Some(first) = &self.first {
            report.problem(format!(
                "{} {what} failed, the first with: {first}",
                self.count
            ));
        }
    }
}

/// One client timing requests one at a time, with what failed so far.
pub struct Timing<'a> {
    ctx: &'a Ctx,
    client: Client,
    bar: &'a indicatif::ProgressBar,
    pub failures: Failures,
}

impl<'a> Timing<'a> {
    /// A client of `target` logged in as `account`, its requests counted on
    /// `bar`.
    pub fn logged_in(
        ctx: &'a Ctx,
        target: &Target,
        account: &Account,
        bar: &'a indicatif::ProgressBar,
    ) -> Result<Timing<'a>, BenchError> {
        let mut client = Client::connect(target.addr())?;
        client.expect("/login", &[&account.username, &account.password], 200)?;
        Ok(Timing {
            ctx,
            client,
            bar,
            failures: Failures::default(),
        })
    }

    /// Sends `count` requests, `line(i)` each (with its line feed), timing
    /// each round trip. A reply other than 200, or one `check` refuses (it
    /// sees the client, whose `last_data` is the reply), is a failure.
    pub fn requests(
        &mut self,
        what: &str,
        count: usize,
        mut line: impl FnMut(usize) -> String,
        mut check: impl FnMut(&Client) -> Result<(), String>,
    ) -> Result<Samples, BenchError> {
        let mut samples = Samples::with_capacity(count);
        for i in 0..count {
            self.ctx.deadline.check(what)?;
            let mut request = line(i);
            request.push('\n');
            let sent = Instant::now();
            let status = self.client.request(&request)?;
            samples.push(sent.elapsed());
            if status != 200 {
                let reply = self.client.last_line().trim_end().to_string();
                self.failures.record(reply);
            } else if let Err(refused) = check(&self.client) {
                self.failures.record(refused);
            }
            self.bar.inc(1);
        }
        Ok(samples)
    }
}

/// Checks that a reply's data is an array of `expected` items (`what`, in
/// the sentence when it is not).
pub fn expect_count(client: &Client, expected: usize, what: &str) -> Result<(), String> {
    let items: Vec<IgnoredAny> = client.last_data().map_err(|err| err.to_string())?;
    if items.len() == expected {
        Ok(())
    } else {
        Err(format!("{} {what}, not {expected}", items.len()))
    }
}

/// A small deterministic generator (for cursors and choices); quality is not
/// a concern.
pub struct XorShift(u64);

impl XorShift {
    /// Seeded from the run's tag, so runs differ but each is reproducible.
    pub fn for_run(ctx: &Ctx) -> XorShift {
        XorShift(
            ctx.tag
                .bytes()
                .fold(0x9e37_79b9_7f4a_7c15_u64, |h, b| {
                    (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
                })
                .max(1),
        )
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}

/// Spawns a server on a fresh database holding `cast`, `rooms` rooms that
/// every user of the cast is a member of, and `messages` messages saying
/// `text(i)`; `prepare` may change the database before the server starts.
/// Needs `--spawn`.
pub fn filled_server(
    ctx: &Ctx,
    scenario: &str,
    cast: &Cast,
    rooms: u64,
    messages: u64,
    text: impl Fn(u64) -> String,
    prepare: impl FnOnce(&Path, &Filled) -> Result<(), BenchError>,
) -> Result<(Target, Filled), BenchError> {
    if !matches!(ctx.server, ServerChoice::Spawn(_)) {
        return Err(BenchError::Usage(format!(
            "{scenario} fills its own database; run it with --spawn"
        )));
    }
    let workspace = Workspace::new()?;
    setup::seed(&workspace.db(), cast)?;
    let filled = setup::fill(ctx, &workspace.db(), cast, rooms, messages, true, text)?;
    prepare(&workspace.db(), &filled)?;
    let server = setup::spawn(ctx, &workspace, 16)?;
    Ok((Target::Spawned { server, workspace }, filled))
}

/// A report for a scenario on a filled database: its sizes and how the fill
/// went.
pub fn filled_report(
    scenario: &'static str,
    messages: u64,
    rooms: u64,
    queries: usize,
    filled: &Filled,
) -> Report {
    let mut report = Report::new(scenario);
    report.param("messages", messages);
    report.param("rooms", rooms);
    report.param("queries", queries);
    report.millis("fill time", "fill_ms", filled.elapsed);
    report.rate(
        "fill rate",
        "fill_per_s",
        per_second(messages, filled.elapsed),
        "msgs/s",
    );
    report.number(
        "database size",
        "db_mib",
        filled.bytes as f64 / (1024.0 * 1024.0),
        "MiB",
        1,
    );
    report
}

/// Every message of the filled room `name`, oldest first, read straight
/// from the database (not timed): what the replies are checked against.
pub fn stored_messages(db: &dyn Reads, name: &str) -> Result<Vec<Message>, BenchError> {
    /// Messages read per query.
    const READ_BACK: u32 = 1_000;
    let room = db
        .find_room(name)?
        .ok_or_else(|| BenchError::Server(format!("the filled room {name} is missing")))?;
    let place = Place::Room(room);
    let mut messages: Vec<Message> = Vec::new();
    loop {
        let after = messages.last().map_or(0, |message| message.id);
        let page = db.messages(
            &place,
            Page::After {
                id: after,
                limit: READ_BACK,
            },
        )?;
        if page.is_empty() {
            return Ok(messages);
        }
        messages.extend(page);
    }
}
