//! `login`: L logins from a few concurrent connections, each logging in as
//! its own user again and again with the right password. The users are
//! always registered over the wire, so they carry real Argon2id hashes: this
//! measures the hashing the server bounds by design. Then R logins with the
//! resume token the last password login issued (`/resume`), which cost no
//! hash. Wrong passwords are never sent; the server throttles failed logins.
//!
//! Every connection finishes its password logins before any starts resuming
//! (a barrier between the phases), so the resume figures time resumes only,
//! not resumes beside other connections' Argon2id hashing. A `200` to
//! `/login` without a token is a problem: protocol v2 requires one. A server
//! the bench spawned reports its resident size at the end.

use std::sync::Barrier;
use std::time::Instant;

use super::{CpuWindow, base_params, clap_defaults, conclude};
use crate::bench::client::Client;
use crate::bench::report::Report;
use crate::bench::setup::{self, Account, Cast};
use crate::bench::stats::{Samples, per_second};
use crate::bench::target::{Target, Workspace};
use crate::bench::{BenchError, Ctx, ServerChoice, progress};
use crate::wire::{AccountName, LoginReply};

#[derive(Debug, Clone, clap::Args)]
pub struct LoginArgs {
    /// Logins in all.
    #[arg(long, default_value_t = 200)]
    pub logins: usize,
    /// Connections logging in at once, each as its own user.
    #[arg(long, default_value_t = 4)]
    pub connections: usize,
    /// Logins with a resume token in all, after the password logins.
    #[arg(long, default_value_t = 4000)]
    pub resumes: usize,
}

impl Default for LoginArgs {
    fn default() -> Self {
        clap_defaults()
    }
}

impl LoginArgs {
    pub fn smoke() -> LoginArgs {
        LoginArgs {
            logins: 10,
            connections: 2,
            resumes: 20,
        }
    }
}

struct Outcome {
    samples: Samples,
    first_error: Option<String>,
    errors: u64,
    /// `200` replies to `/login` without a resume token.
    tokenless: u64,
    first_tokenless: Option<String>,
    /// When this connection's password logins ended.
    logins_done: Instant,
    /// When its resume logins ended.
    done: Instant,
    /// The resume logins, timed from when the last password login ended.
    resumes: Samples,
    resumes_started: Instant,
    client: Client,
    /// The token of the last password login.
    token: Option<String>,
}

pub fn run(ctx: &Ctx, args: &LoginArgs) -> Result<Report, BenchError> {
    if args.logins == 0 || args.connections == 0 {
        return Err(BenchError::Usage(
            "login needs --logins and --connections above 0".to_string(),
        ));
    }
    let connections = args.connections.min(args.logins);
    let cast = Cast::new(&ctx.tag, "login", connections);
    let target = match &ctx.server {
        ServerChoice::Remote(endpoints) => Target::Remote(endpoints.clone()),
        ServerChoice::Spawn(_) => {
            let workspace = Workspace::new()?;
            let server = setup::spawn(ctx, &workspace, connections)?;
            Target::Spawned { server, workspace }
        }
    };
    // Real hashes: registered over the wire whatever the target.
    let measured = setup::register(target.addr(), &cast, ctx)
        .and_then(|()| measure(ctx, args, &cast, &target));
    conclude(target, measured)
}

fn measure(
    ctx: &Ctx,
    args: &LoginArgs,
    cast: &Cast,
    target: &Target,
) -> Result<Report, BenchError> {
    let addr = target.addr();
    let connections = cast.accounts.len();
    let clients: Vec<Client> = (0..connections)
        .map(|_| Client::connect(addr))
        .collect::<Result<_, _>>()?;
    let bar = progress::bar(ctx, args.logins as u64, "logging in");
    let barrier = Barrier::new(connections + 1);
    // Between the phases: every connection's password logins are over
    // before any connection resumes.
    let between = Barrier::new(connections);
    let cpu = CpuWindow::start(target);
    let (start, outcomes) = std::thread::scope(|scope| {
        let handles: Vec<_> = clients
            .into_iter()
            .enumerate()
            .map(|(c, client)| {
                // Spread the remainder over the first connections.
                let count = args.logins / connections + usize::from(c < args.logins % connections);
                let resumes =
                    args.resumes / connections + usize::from(c < args.resumes % connections);
                let (account, barrier, between, bar) =
                    (&cast.accounts[c], &barrier, &between, &bar);
                scope.spawn(move || {
                    let mut outcome = log_in_repeatedly(ctx, client, account, count, barrier, bar);
                    between.wait();
                    resume_repeatedly(ctx, &mut outcome, account, resumes);
                    outcome
                })
            })
            .collect();
        barrier.wait();
        let start = Instant::now();
        let outcomes: Vec<Outcome> = handles
            .into_iter()
            .map(|h| h.join().expect("a login thread panicked"))
            .collect();
        (start, outcomes)
    });
    bar.finish_and_clear();

    let mut report = Report::new("login");
    report.param("logins", args.logins);
    report.param("connections", connections);
    base_params(&mut report, ctx);
    let mut samples = Samples::new();
    let mut resumes = Samples::new();
    let mut errors = 0;
    let (mut tokenless, mut first_tokenless) = (0, None);
    let mut end = start;
    let (mut resumes_start, mut resumes_end) = (None::<Instant>, start);
    for mut outcome in outcomes {
        samples.append(&mut outcome.samples);
        resumes.append(&mut outcome.resumes);
        errors += outcome.errors;
        tokenless += outcome.tokenless;
        first_tokenless = first_tokenless.or(outcome.first_tokenless);
        end = end.max(outcome.logins_done);
        resumes_start =
            Some(resumes_start.map_or(outcome.resumes_started, |s| s.min(outcome.resumes_started)));
        resumes_end = resumes_end.max(outcome.done);
        if let Some(error) = outcome.first_error {
            report.problem(format!("a login failed: {error}"));
        }
    }
    if let Some(line) = first_tokenless {
        report.problem(format!(
            "{tokenless} /login replies (200) carried no resume token, which protocol v2 \
             requires; the first: {line}"
        ));
    }
    let elapsed = end - start;
    report.count("logins", "logins", samples.len() as u64);
    report.count("failed logins", "errors", errors);
    report.millis("elapsed", "elapsed_ms", elapsed);
    report.rate(
        "login rate",
        "logins_per_s",
        per_second(samples.len() as u64, elapsed),
        "logins/s",
    );
    report.latency("login latency", "login", samples.summary());
    let resume_elapsed = resumes_end - resumes_start.unwrap_or(resumes_end);
    report.count("resume logins", "resumes", resumes.len() as u64);
    report.rate(
        "resume rate",
        "resumes_per_s",
        per_second(resumes.len() as u64, resume_elapsed),
        "logins/s",
    );
    report.latency("resume latency", "resume", resumes.summary());
    // Argon2's 19 MiB per hash, once left behind by every login that came
    // at once, shows here.
    match target
        .spawned()
        .map(|server| server.rss_kib())
        .transpose()?
    {
        Some(rss) => report.amount("server RSS after", "rss_after_kib", rss, "KiB"),
        None => report.na("server RSS after", "rss_after_kib"),
    }
    cpu.finish(target, &mut report);
    Ok(report)
}

fn log_in_repeatedly(
    ctx: &Ctx,
    client: Client,
    account: &Account,
    count: usize,
    barrier: &Barrier,
    bar: &indicatif::ProgressBar,
) -> Outcome {
    let mut outcome = Outcome {
        samples: Samples::with_capacity(count),
        first_error: None,
        errors: 0,
        tokenless: 0,
        first_tokenless: None,
        logins_done: Instant::now(),
        done: Instant::now(),
        resumes: Samples::new(),
        resumes_started: Instant::now(),
        client,
        token: None,
    };
    barrier.wait();
    for _ in 0..count {
        if ctx.deadline.passed() {
            outcome
                .first_error
                .get_or_insert_with(|| "stopped at the run's deadline (--timeout)".to_string());
            break;
        }
        let sent = Instant::now();
        let client = &mut outcome.client;
        match client.call("/login", &[&account.username, &account.password]) {
            Ok(200) => {
                outcome.samples.push(sent.elapsed());
                match client.last_data::<LoginReply>() {
                    Ok(issued) if !issued.token.is_empty() => outcome.token = Some(issued.token),
                    _ => {
                        outcome.tokenless += 1;
                        outcome
                            .first_tokenless
                            .get_or_insert_with(|| client.last_line().trim_end().to_string());
                        outcome.token = None;
                    }
                }
            }
            Ok(_) => {
                outcome.errors += 1;
                outcome
                    .first_error
                    .get_or_insert_with(|| client.last_line().trim_end().to_string());
                // A refused login may count towards the throttle: stop here.
                break;
            }
            Err(err) => {
                outcome.first_error.get_or_insert_with(|| err.to_string());
                break;
            }
        }
        bar.inc(1);
    }
    outcome.logins_done = Instant::now();
    outcome.done = outcome.logins_done;
    outcome
}

/// Logs in `count` times with the token of the last password login; the
/// reply must name `account`.
fn resume_repeatedly(ctx: &Ctx, outcome: &mut Outcome, account: &Account, count: usize) {
    outcome.resumes_started = Instant::now();
    let Some(token) = outcome.token.clone() else {
        outcome.done = outcome.resumes_started;
        return;
    };
    outcome.resumes = Samples::with_capacity(count);
    for _ in 0..count {
        if ctx.deadline.passed() {
            outcome
                .first_error
                .get_or_insert_with(|| "stopped at the run's deadline (--timeout)".to_string());
            break;
        }
        let sent = Instant::now();
        match outcome.client.call("/resume", &[&token]) {
            Ok(200) => {
                outcome.resumes.push(sent.elapsed());
                let named = outcome.client.last_data::<AccountName>();
                if !named.is_ok_and(|r| r.username.eq_ignore_ascii_case(&account.username)) {
                    outcome.errors += 1;
                    let line = outcome.client.last_line().trim_end().to_string();
                    outcome.first_error.get_or_insert(format!(
                        "/resume did not name {}: {line}",
                        account.username
                    ));
                    break;
                }
            }
            Ok(_) => {
                outcome.errors += 1;
                let line = outcome.client.last_line().trim_end().to_string();
                outcome.first_error.get_or_insert(line);
                break;
            }
            Err(err) => {
                outcome.first_error.get_or_insert_with(|| err.to_string());
                break;
            }
        }
    }
    outcome.done = Instant::now();
}
