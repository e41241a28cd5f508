//! The scenarios, one file each. A scenario sets up (untimed), measures, and
//! returns a [`Report`]; it stops a server it spawned on every way out.

pub mod fanout;
pub mod history;
pub mod idle;
pub mod irc_fanout;
pub mod login;
mod queries;
pub mod search;
pub mod send;
pub mod unread;

use super::cli::Command;
use super::report::Report;
use super::{BenchError, Ctx};

/// One scenario with its settings.
#[derive(Debug, Clone)]
pub enum Scenario {
    Send(send::SendArgs),
    Fanout(fanout::FanoutArgs),
    Idle(idle::IdleArgs),
    History(history::HistoryArgs),
    Login(login::LoginArgs),
    Search(search::SearchArgs),
    Unread(unread::UnreadArgs),
}

impl Scenario {
    pub fn name(&self) -> &'static str {
        match self {
            Scenario::Send(_) => "send",
            Scenario::Fanout(_) => "fanout",
            Scenario::Idle(_) => "idle",
            Scenario::History(_) => "history",
            Scenario::Login(_) => "login",
            Scenario::Search(_) => "search",
            Scenario::Unread(_) => "unread",
        }
    }

    pub fn run(&self, ctx: &Ctx) -> Result<Report, BenchError> {
        ctx.deadline.check(&format!("starting {}", self.name()))?;
        if ctx.transport == super::client::Transport::Irc {
            return match self {
                Scenario::Fanout(args) => irc_fanout::run(ctx, args),
                _ => Err(BenchError::Usage(format!(
                    "--transport irc is for fanout only, not {}",
                    self.name()
                ))),
            };
        }
        match self {
            Scenario::Send(args) => send::run(ctx, args),
            Scenario::Fanout(args) => fanout::run(ctx, args),
            Scenario::Idle(args) => idle::run(ctx, args),
            Scenario::History(args) => history::run(ctx, args),
            Scenario::Login(args) => login::run(ctx, args),
            Scenario::Search(args) => search::run(ctx, args),
            Scenario::Unread(args) => unread::run(ctx, args),
        }
    }
}

/// The scenarios a command asks for, in order.
pub fn selected(command: &Command) -> Vec<Scenario> {
    match command {
        Command::Send(args) => vec![Scenario::Send(args.clone())],
        Command::Fanout(args) => vec![Scenario::Fanout(args.clone())],
        Command::Idle(args) => vec![Scenario::Idle(args.clone())],
        Command::History(args) => vec![Scenario::History(args.clone())],
        Command::Login(args) => vec![Scenario::Login(args.clone())],
        Command::Search(args) => vec![Scenario::Search(args.clone())],
        Command::Unread(args) => vec![Scenario::Unread(args.clone())],
        Command::All(all) if all.smoke => vec![
            Scenario::Send(send::SendArgs::smoke()),
            Scenario::Fanout(fanout::FanoutArgs::smoke()),
            Scenario::Idle(idle::IdleArgs::smoke()),
            Scenario::History(history::HistoryArgs::smoke()),
            Scenario::Login(login::LoginArgs::smoke()),
            Scenario::Search(search::SearchArgs::smoke()),
            Scenario::Unread(unread::UnreadArgs::smoke()),
        ],
        Command::All(_) => vec![
            Scenario::Send(send::SendArgs::default()),
            Scenario::Fanout(fanout::FanoutArgs::default()),
            Scenario::Idle(idle::IdleArgs::default()),
            Scenario::History(history::HistoryArgs::default()),
            Scenario::Login(login::LoginArgs::default()),
            Scenario::Search(search::SearchArgs::default()),
            Scenario::Unread(unread::UnreadArgs::default()),
        ],
    }
}

/// A scenario's settings as clap's defaults give them, so that `all` runs
/// exactly what the subcommand would with no flags.
fn clap_defaults<T: clap::Args + clap::FromArgMatches>() -> T {
    let command = T::augment_args(clap::Command::new("defaults"));
    T::from_arg_matches(&command.get_matches_from(["defaults"]))
        .expect("every scenario option has a default")
}

/// Stops the server whatever the measurement's outcome, adding how it ended
/// to the report.
fn conclude(
    target: super::target::Target,
    measured: Result<Report, BenchError>,
) -> Result<Report, BenchError> {
    match measured {
        Ok(mut report) => {
            target.finish(&mut report);
            Ok(report)
        }
        Err(err) => match target {
            super::target::Target::Spawned { mut server, .. } => {
                let ending = server.stop();
                if ending.problem_count == 0 {
                    Err(err)
                } else {
                    Err(BenchError::WithServerLog {
                        source: Box::new(err),
                        count: ending.problem_count,
                        lines: ending.problems,
                    })
                }
            }
            super::target::Target::Remote(_) => Err(err),
        },
    }
}

/// The common parameters of every report: where the server was and how it
/// commits.
fn base_params(report: &mut Report, ctx: &Ctx) {
    report.param("server", ctx.server_param());
    if let Ok(load) = std::fs::read_to_string("/proc/loadavg") {
        let load: Vec<&str> = load.split_whitespace().take(3).collect();
        report.note(format!(
            "load average (1, 5, 15 min) at the end: {}",
            load.join(" ")
        ));
    }
    if let super::ServerChoice::Spawn(options) = &ctx.server {
        report.param(
            "sync",
            match options.sync {
                crate::store::SyncMode::Normal => "normal",
                crate::store::SyncMode::Full => "full",
            },
        );
    }
}

/// CPU time the bench and a spawned server use over a measured phase, so a
/// reader can tell a saturated server from a saturated bench: on a small
/// machine they share the cores.
/// The shortest window whose CPU use is reported.
const CPU_WINDOW_MIN: std::time::Duration = std::time::Duration::from_secs(1);

struct CpuWindow {
    started: std::time::Instant,
    bench: Option<std::time::Duration>,
    server: Option<std::time::Duration>,
}

impl CpuWindow {
    fn start(target: &super::target::Target) -> CpuWindow {
        CpuWindow {
            started: std::time::Instant::now(),
            bench: super::procfs::cpu_time(None).ok(),
            server: target.spawned().and_then(|s| s.cpu_time().ok()),
        }
    }

    /// Adds each process's CPU use, in percent of one core, to `report`:
    /// n/a for a window under [`CPU_WINDOW_MIN`], as the kernel counts CPU
    /// time in 10 ms ticks.
    fn finish(self, target: &super::target::Target, report: &mut Report) {
        let wall = self.started.elapsed().as_secs_f64();
        let long_enough = wall >= CPU_WINDOW_MIN.as_secs_f64();
        if !long_enough {
            report.note(format!(
                "CPU use not shown: the run took {:.0} ms, under the {} s it needs to mean \
                 something",
                wall * 1000.0,
                CPU_WINDOW_MIN.as_secs()
            ));
        }
        let percent =
            |before: Option<std::time::Duration>, after: Option<std::time::Duration>| match (
                before, after,
            ) {
                (Some(before), Some(after)) if long_enough => {
                    Some(after.saturating_sub(before).as_secs_f64() / wall * 100.0)
                }
                _ => None,
            };
        let server = percent(
            self.server,
            target.spawned().and_then(|s| s.cpu_time().ok()),
        );
        match server {
            Some(p) => report.number("server CPU", "server_cpu_pct", p, "% of a core", 0),
            None => report.na("server CPU", "server_cpu_pct"),
        }
        match percent(self.bench, super::procfs::cpu_time(None).ok()) {
            Some(p) => report.number("bench CPU", "bench_cpu_pct", p, "% of a core", 0),
            None => report.na("bench CPU", "bench_cpu_pct"),
        }
    }
}
