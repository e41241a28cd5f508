//! What `/proc` tells about a process: resident memory, threads, CPU time.

use std::time::Duration;

/// Clock ticks per second of `/proc/PID/stat` times (`USER_HZ`), which Linux
/// fixes at 100 on every architecture it reports to user space.
const TICKS_PER_SECOND: u64 = 100;

/// A numeric field of `/proc/PID/status` (`None`: this process), e.g.
/// `VmRSS` in KiB or `Threads`.
pub fn status_field(pid: Option<u32>, field: &str) -> std::io::Result<u64> {
    let status = std::fs::read_to_string(proc_path(pid, "status"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|value| value.split_whitespace().next()?.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("no {field} in {}", proc_path(pid, "status"))))
}

/// User plus system CPU time the process (`None`: this one) has used, all
/// its threads together.
pub fn cpu_time(pid: Option<u32>) -> std::io::Result<Duration> {
    let stat = std::fs::read_to_string(proc_path(pid, "stat"))?;
    cpu_time_of(&stat)
        .ok_or_else(|| std::io::Error::other(format!("unreadable {}", proc_path(pid, "stat"))))
}

/// `utime + stime` from the text of `/proc/PID/stat`.
fn cpu_time_of(stat: &str) -> Option<Duration> {
    // The command name is in parentheses and may hold spaces: count fields
    // from after its closing parenthesis, where field 3 (state) starts.
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split(' ');
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(Duration::from_millis(
        (utime + stime) * 1000 / TICKS_PER_SECOND,
    ))
}

fn proc_path(pid: Option<u32>, file: &str) -> String {
    match pid {
        Some(pid) => format!("/proc/{pid}/{file}"),
        None => format!("/proc/self/{file}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_counts_user_and_system_ticks() {
        let stat = "1234 (pipechat server) S 1 1234 1234 0 -1 4194560 500 0 0 0 250 130 0 0 20 0 9 0 100 0 0";
        assert_eq!(cpu_time_of(stat), Some(Duration::from_millis(3800)));
    }

    #[test]
    fn this_process_has_memory_threads_and_cpu_time() {
        assert!(status_field(None, "VmRSS").unwrap() > 0);
        assert!(status_field(None, "Threads").unwrap() >= 1);
        assert!(cpu_time(None).is_ok());
    }
}
