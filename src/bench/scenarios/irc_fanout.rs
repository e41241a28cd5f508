//! `fanout --transport irc`: the fan-out scenario spoken in IRC, against
//! pipechat's IRC front door and, in the same run and on the same
//! scenario, against ngircd (Debian's package), started on a temporary
//! configuration.
//!
//! S subscribers and P publishers register as IRC clients (guests on
//! pipechat: no Argon2id in the set-up, and nothing either server would
//! not do for any client), all JOIN one channel, and the publishers send
//! `PRIVMSG #channel :f SEQ SENT_NS` at a total rate R for T seconds, open
//! loop. Each subscriber is read by a thread of its own; the delivery
//! latency runs from just before a publisher writes its line to a
//! subscriber reading it. Neither server acknowledges a PRIVMSG (without
//! echo-message), so "lost" counts deliveries of every *sent* message that
//! never arrived within `--drain` seconds of the last send.
//!
//! IRC messages carry no id, but each publisher sends its sequence numbers
//! in increasing order on one connection, so every subscriber must get each
//! publisher's messages in that order. Duplicates, reordering and a
//! publisher that could not send all its messages are problems, as in the
//! pipe fan-out.
//!
//! The two servers differ in what a message costs: pipechat commits each
//! one to SQLite before it is delivered; ngircd keeps nothing. The report
//! shows both side by side, with each server's CPU use.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::fanout::FanoutArgs;
use crate::bench::report::Report;
use crate::bench::stats::{Samples, per_second};
use crate::bench::subscribers::{message_text, parse_text};
use crate::bench::target::Workspace;
use crate::bench::{BenchError, Ctx, ServerChoice, procfs};

/// The channel of the scenario.
const CHANNEL: &str = "#fanout";
/// How long registration and joining may take per client.
const SETUP_TIMEOUT: Duration = Duration::from_secs(30);
/// Where ngircd is, as Debian installs it.
const NGIRCD: &str = "/usr/sbin/ngircd";

/// What one server did in the scenario.
struct Measured {
    sent: u64,
    deliveries: u64,
    lost: u64,
    duplicates: u64,
    out_of_order: u64,
    latency: Samples,
    publishing: Duration,
    delivering: Duration,
    cpu_percent: Option<f64>,
    problems: Vec<String>,
}

pub fn run(ctx: &Ctx, args: &FanoutArgs) -> Result<Report, BenchError> {
    let ServerChoice::Spawn(options) = &ctx.server else {
        return Err(BenchError::Usage(
            "fanout --transport irc starts pipechat and ngircd itself: give --spawn".to_string(),
        ));
    };
    if args.subscribers == 0 || args.publishers == 0 || !(args.rate > 0.0 && args.seconds > 0.0) {
        return Err(BenchError::Usage(
            "fanout needs --subscribers, --publishers, --rate and --seconds above 0".to_string(),
        ));
    }
    let mut report = Report::new("fanout");
    report.param("transport", "irc");
    report.param("subscribers", args.subscribers);
    report.param("publishers", args.publishers);
    report.param("rate", args.rate);
    report.param("seconds", args.seconds);

    let workspace = Workspace::new()?;
    let mut pipechat = spawn_pipechat(&options.binary, &workspace.db(), workspace.path(), args)?;
    let measured = measure(ctx, args, pipechat.addr, pipechat.child.id());
    pipechat.stop();
    add(&mut report, "pipechat", measured?);

    if Path::new(NGIRCD).exists() {
        let mut ngircd = spawn_ngircd(workspace.path(), args)?;
        let measured = measure(ctx, args, ngircd.addr, ngircd.child.id());
        ngircd.stop();
        add(&mut report, "ngircd", measured?);
    } else {
        report.note(format!(
            "{NGIRCD} is not installed (apt-get install ngircd): no comparison this run"
        ));
    }
    report.note(
        "pipechat stores every message in SQLite before delivering it; ngircd stores nothing",
    );
    Ok(report)
}

fn add(report: &mut Report, who: &'static str, mut measured: Measured) {
    let key = |name: &str| format!("{who}_{name}");
    report.count(
        &format!("{who}: messages sent"),
        &key("sent"),
        measured.sent,
    );
    report.rate(
        &format!("{who}: send rate offered"),
        &key("send_rate_per_s"),
        per_second(measured.sent.saturating_sub(1), measured.publishing),
        "msgs/s",
    );
    report.count(
        &format!("{who}: deliveries"),
        &key("deliveries"),
        measured.deliveries,
    );
    report.rate(
        &format!("{who}: delivery rate"),
        &key("deliveries_per_s"),
        per_second(measured.deliveries, measured.delivering),
        "deliveries/s",
    );
    report.latency(
        &format!("{who}: delivery latency"),
        &key("delivery"),
        measured.latency.summary(),
    );
    report.count(
        &format!("{who}: deliveries lost"),
        &key("lost"),
        measured.lost,
    );
    report.count(
        &format!("{who}: duplicates"),
        &key("duplicates"),
        measured.duplicates,
    );
    report.count(
        &format!("{who}: out of order"),
        &key("out_of_order"),
        measured.out_of_order,
    );
    match measured.cpu_percent {
        Some(p) => report.number(
            &format!("{who}: server CPU"),
            &key("server_cpu_pct"),
            p,
            "% of a core",
            0,
        ),
        None => report.na(&format!("{who}: server CPU"), &key("server_cpu_pct")),
    }
    for problem in measured.problems {
        report.problem(format!("{who}: {problem}"));
    }
}

/// A server process of the scenario, killed if not stopped.
struct Spawned {
    child: Child,
    addr: SocketAddr,
}

impl Spawned {
    fn stop(&mut self) {
        if let Ok(pid) = i32::try_from(self.child.id())
            && let Some(pid) = rustix::process::Pid::from_raw(pid)
        {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn spawn_pipechat(
    binary: &Path,
    db: &Path,
    logs: &Path,
    args: &FanoutArgs,
) -> Result<Spawned, BenchError> {
    let stderr = std::fs::File::create(logs.join("pipechat-irc.log"))?;
    let mut child = Command::new(binary)
        .arg("--db")
        .arg(db)
        .args(["--listen", "127.0.0.1:0", "--http", "off"])
        .args(["--irc", "127.0.0.1:0", "--irc-guests"])
        .arg("--max-connections")
        .arg((args.subscribers + args.publishers + 64).to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .map_err(|err| BenchError::Server(format!("cannot start {}: {err}", binary.display())))?;
    let stdout = child.stdout.take().expect("stdout is piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        for _ in 0..2 {
            let mut line = String::new();
            let _ = reader.read_line(&mut line);
            let _ = tx.send(line);
        }
    });
    let mut irc = None;
    for _ in 0..2 {
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .map_err(|_| BenchError::Server("pipechat printed no 'irc on' line".to_string()))?;
        if let Some(addr) = line.trim().strip_prefix("irc on ") {
            irc = addr.parse().ok();
        }
    }
    let addr = irc.ok_or_else(|| BenchError::Server("pipechat gave no IRC address".to_string()))?;
    Ok(Spawned { child, addr })
}

fn spawn_ngircd(dir: &Path, args: &FanoutArgs) -> Result<Spawned, BenchError> {
    // A free port: bound and let go (ngircd binds it a moment later).
    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let config = dir.join("ngircd.conf");
    std::fs::write(
        &config,
        format!(
            "[Global]\n\
             Name = bench.ngircd\n\
             Info = pipechat bench comparison\n\
             Listen = 127.0.0.1\n\
             Ports = {port}\n\
             MotdPhrase = bench\n\
             PidFile = {pid}\n\
             [Limits]\n\
             MaxConnections = {max}\n\
             MaxConnectionsIP = 0\n\
             MaxJoins = 0\n\
             MaxPenaltyTime = 0\n\
             MaxNickLength = 32\n\
             PingTimeout = 600\n\
             PongTimeout = 600\n\
             [Options]\n\
             DNS = no\n\
             Ident = no\n\
             PAM = no\n",
            pid = dir.join("ngircd.pid").display(),
            max = args.subscribers + args.publishers + 64,
        ),
    )?;
    let stderr = std::fs::File::create(dir.join("ngircd.log"))?;
    let child = Command::new(NGIRCD)
        .args(["--nodaemon", "--config"])
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .map_err(|err| BenchError::Server(format!("cannot start {NGIRCD}: {err}")))?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut spawned = Spawned { child, addr };
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(addr).is_err() {
        if Instant::now() >= deadline || matches!(spawned.child.try_wait(), Ok(Some(_))) {
            spawned.stop();
            return Err(BenchError::Server(format!(
                "ngircd did not listen on {addr}; see its log in {}",
                dir.display()
            )));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(spawned)
}

/// An IRC client registered and in the channel.
fn join(addr: SocketAddr, nick: &str) -> Result<(TcpStream, BufReader<TcpStream>), BenchError> {
    let stream = TcpStream::connect(addr)?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(SETUP_TIMEOUT))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    (&stream).write_all(format!("NICK {nick}\r\nUSER b 0 * :bench\r\n").as_bytes())?;
    wait_for(&mut reader, &stream, " 001 ")?;
    (&stream).write_all(format!("JOIN {CHANNEL}\r\n").as_bytes())?;
    wait_for(&mut reader, &stream, " 366 ")?;
    Ok((stream, reader))
}

/// Reads lines until one holds `needle`, answering PINGs.
fn wait_for(
    reader: &mut BufReader<TcpStream>,
    stream: &TcpStream,
    needle: &str,
) -> Result<(), BenchError> {
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Err(BenchError::Server(format!(
                "the IRC server closed a connection while waiting for{needle}"
            )));
        }
        if let Some(token) = line.strip_prefix("PING ") {
            (&*stream).write_all(format!("PONG {token}").as_bytes())?;
        }
        if line.contains(needle) {
            return Ok(());
        }
    }
}

/// What one subscriber's reader saw.
struct Seen {
    got: Vec<bool>,
    duplicates: u64,
    /// Messages that came after a later one of the same publisher.
    out_of_order: u64,
    latency: Samples,
    last_ns: u64,
    closed: Option<String>,
}

fn measure(
    ctx: &Ctx,
    args: &FanoutArgs,
    addr: SocketAddr,
    pid: u32,
) -> Result<Measured, BenchError> {
    let planned = ((args.rate * args.seconds).round() as usize).max(1);
    let mut subscribers = Vec::with_capacity(args.subscribers);
    for index in 0..args.subscribers {
        ctx.deadline.check("registering IRC subscribers")?;
        subscribers.push(join(addr, &format!("s{index}"))?);
    }
    let mut publishers = Vec::with_capacity(args.publishers);
    for index in 0..args.publishers {
        publishers.push(join(addr, &format!("p{index}"))?.0);
    }
    let epoch = Instant::now();
    let now_ns = move || epoch.elapsed().as_nanos() as u64;
    let drain_until = Arc::new(AtomicU64::new(u64::MAX));
    let delivered = Arc::new(AtomicU64::new(0));
    let expected = (planned * args.subscribers) as u64;
    let cpu_before = procfs::cpu_time(Some(pid)).ok();
    let started = Instant::now();
    let start_ns = now_ns() + 100_000_000;
    let interval_ns = 1e9 / args.rate;
    let (seen, sent, written, last_send_ns, broken) = std::thread::scope(|scope| {
        let readers: Vec<_> = subscribers
            .into_iter()
            .map(|subscriber| {
                let (drain_until, delivered) = (Arc::clone(&drain_until), Arc::clone(&delivered));
                scope.spawn(move || {
                    read_subscriber(
                        subscriber,
                        planned,
                        args.publishers,
                        now_ns,
                        &drain_until,
                        &delivered,
                        expected,
                    )
                })
            })
            .collect();
        let count = args.publishers;
        let writers: Vec<_> = publishers
            .into_iter()
            .enumerate()
            .map(|(p, stream)| {
                let deadline = &ctx.deadline;
                scope.spawn(move || {
                    let mut sent = 0u64;
                    let mut last = 0;
                    let mut broken = None;
                    for seq in (p..planned).step_by(count) {
                        if deadline.passed() {
                            broken = Some("stopped at the run's deadline (--timeout)".to_string());
                            break;
                        }
                        let at = (start_ns as f64 + seq as f64 * interval_ns) as u64;
                        let now = now_ns();
                        if at > now {
                            std::thread::sleep(Duration::from_nanos(at - now));
                        }
                        let sent_ns = now_ns();
                        let line = format!("PRIVMSG {CHANNEL} :{}\r\n", message_text(seq, sent_ns));
                        if let Err(err) = (&stream).write_all(line.as_bytes()) {
                            broken = Some(format!("sending: {err}"));
                            break;
                        }
                        sent += 1;
                        last = sent_ns;
                    }
                    (sent, last, broken, stream)
                })
            })
            .collect();
        let mut sent = 0;
        let mut last_send_ns = start_ns;
        let mut streams = Vec::new();
        let mut broken = Vec::new();
        // Which sequence numbers were written: publisher `p` writes its
        // own, `p, p + count, ...`, in order, and stops at a failure.
        let mut written = vec![false; planned];
        for (p, writer) in writers.into_iter().enumerate() {
            let (n, last, why, stream) = writer.join().expect("a publisher thread panicked");
            for seq in (p..planned).step_by(count).take(n as usize) {
                written[seq] = true;
            }
            sent += n;
            last_send_ns = last_send_ns.max(last);
            broken.extend(why);
            streams.push(stream);
        }
        drain_until.store(
            now_ns() + Duration::from_secs_f64(args.drain).as_nanos() as u64,
            Ordering::Release,
        );
        let seen: Vec<Seen> = readers
            .into_iter()
            .map(|reader| reader.join().expect("a reader thread panicked"))
            .collect();
        drop(streams);
        (seen, sent, written, last_send_ns, broken)
    });
    let wall = started.elapsed().as_secs_f64();
    let cpu_percent = match (cpu_before, procfs::cpu_time(Some(pid)).ok()) {
        (Some(before), Some(after)) if wall > 0.0 => {
            Some(after.saturating_sub(before).as_secs_f64() / wall * 100.0)
        }
        _ => None,
    };
    let mut measured = Measured {
        sent,
        deliveries: 0,
        lost: 0,
        duplicates: 0,
        out_of_order: 0,
        latency: Samples::new(),
        publishing: Duration::from_nanos(last_send_ns.saturating_sub(start_ns)),
        delivering: Duration::ZERO,
        cpu_percent,
        problems: broken
            .into_iter()
            .map(|why| format!("a publisher stopped: {why}"))
            .collect(),
    };
    let mut last_ns = start_ns;
    let mut closed = 0;
    for mut one in seen {
        measured.deliveries += one.latency.len() as u64;
        measured.duplicates += one.duplicates;
        measured.out_of_order += one.out_of_order;
        measured.lost += one
            .got
            .iter()
            .zip(&written)
            .filter(|&(got, written)| *written && !got)
            .count() as u64;
        measured.latency.append(&mut one.latency);
        last_ns = last_ns.max(one.last_ns);
        if let Some(why) = one.closed {
            closed += 1;
            if closed == 1 {
                measured
                    .problems
                    .push(format!("a subscriber's connection ended: {why}"));
            }
        }
    }
    measured.delivering = Duration::from_nanos(last_ns.saturating_sub(start_ns));
    if measured.lost > 0 {
        measured.problems.push(format!(
            "{} deliveries never arrived within {}s of the last send",
            measured.lost, args.drain
        ));
    }
    if measured.out_of_order > 0 {
        measured.problems.push(format!(
            "{} deliveries arrived after a later message of the same publisher",
            measured.out_of_order
        ));
    }
    if measured.duplicates > 0 {
        measured
            .problems
            .push(format!("{} deliveries arrived twice", measured.duplicates));
    }
    Ok(measured)
}

/// Reads one subscriber (its stream and the reader on it) until every
/// message arrived or the drain time is over.
fn read_subscriber(
    (stream, mut reader): (TcpStream, BufReader<TcpStream>),
    planned: usize,
    publishers: usize,
    now_ns: impl Fn() -> u64,
    drain_until: &AtomicU64,
    delivered: &AtomicU64,
    expected: u64,
) -> Seen {
    let mut seen = Seen {
        got: vec![false; planned],
        duplicates: 0,
        out_of_order: 0,
        latency: Samples::with_capacity(planned),
        last_ns: 0,
        closed: None,
    };
    // The sequence number each publisher (`seq % publishers`) sent last,
    // as this subscriber saw it.
    let mut last_of: Vec<Option<usize>> = vec![None; publishers];
    let _ = stream.set_read_timeout(Some(Duration::from_millis(50)));
    let mut line = String::new();
    loop {
        if delivered.load(Ordering::Acquire) >= expected
            || now_ns() >= drain_until.load(Ordering::Acquire)
        {
            return seen;
        }
        // A read that times out keeps what it read of a line in `line`;
        // the next read goes on from there.
        match reader.read_line(&mut line) {
            Ok(0) => {
                seen.closed = Some("closed by the server".to_string());
                return seen;
            }
            Ok(_) if !line.ends_with('\n') => continue,
            Ok(_) => {}
            Err(err)
                if matches!(
                    err.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue;
            }
            Err(err) => {
                seen.closed = Some(err.to_string());
                return seen;
            }
        }
        let complete = std::mem::take(&mut line);
        if let Some(token) = complete.strip_prefix("PING ") {
            let _ = (&stream).write_all(format!("PONG {token}").as_bytes());
            continue;
        }
        let Some(text) = complete
            .trim_end()
            .split_once(" PRIVMSG ")
            .and_then(|(_, rest)| rest.split_once(" :"))
            .map(|(_, text)| text)
        else {
            continue;
        };
        let Some((seq, sent_ns)) = parse_text(text) else {
            continue;
        };
        let at = now_ns();
        if seq < planned {
            if seen.got[seq] {
                seen.duplicates += 1;
            } else {
                let last = &mut last_of[seq % publishers];
                if last.is_some_and(|last| last > seq) {
                    seen.out_of_order += 1;
                } else {
                    *last = Some(seq);
                }
                seen.got[seq] = true;
                seen.latency.push_nanos(at.saturating_sub(sent_ns));
                seen.last_ns = at;
                delivered.fetch_add(1, Ordering::AcqRel);
            }
        }
    }
}
