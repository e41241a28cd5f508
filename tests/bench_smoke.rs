//! The benchmark program, end to end: every scenario at smoke size against
//! the real `pipechat-server` binary it spawns.

use std::process::Command;

use serde_json::Value;

/// `pipechat-bench all --smoke --spawn --json` runs every scenario, prints one
/// JSON report each, and sees no broken promise (no error reply, nothing lost).
#[test]
fn every_scenario_runs_at_smoke_size() {
    let output = Command::new(env!("CARGO_BIN_EXE_pipechat-bench"))
        .args(["all", "--smoke", "--spawn", "--json", "--quiet"])
        .args(["--timeout", "300"])
        .output()
        .expect("run pipechat-bench");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "exit {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        output.status
    );
    let reports: Vec<Value> = stdout
        .lines()
        .map(|line| serde_json::from_str(line).expect("one JSON object per line"))
        .collect();
    let names: Vec<&str> = reports
        .iter()
        .map(|r| r["scenario"].as_str().unwrap_or("?"))
        .collect();
    assert_eq!(
        names,
        [
            "send", "fanout", "idle", "history", "login", "search", "unread"
        ]
    );
    for report in &reports {
        assert_eq!(report["problems"], Value::Array(vec![]), "{report}");
    }
    let send = &reports[0]["figures"];
    assert_eq!(send["acked"], 200, "{send}");
    let fanout = &reports[1]["figures"];
    assert_eq!(fanout["lost"], 0, "{fanout}");
    assert_eq!(
        fanout["deliveries"], fanout["deliveries_expected"],
        "{fanout}"
    );
    let idle = &reports[2]["figures"];
    assert!(idle["rss_per_connection_kib"].is_number(), "{idle}");
    let history = &reports[3]["figures"];
    assert!(history["fetch_after_p99_ms"].is_number(), "{history}");
    assert_eq!(reports[4]["figures"]["logins"], 10);
    assert_eq!(reports[4]["figures"]["resumes"], 20);
    assert!(reports[5]["figures"]["search_common_p99_ms"].is_number());
    assert!(reports[6]["figures"]["unread_p99_ms"].is_number());
}

/// `fanout --transport irc` drives pipechat's IRC front door (and ngircd,
/// when installed) on the same small scenario: every message reaches every
/// subscriber, none twice.
#[test]
fn fanout_runs_over_irc_beside_ngircd() {
    let output = Command::new(env!("CARGO_BIN_EXE_pipechat-bench"))
        .args([
            "fanout",
            "--spawn",
            "--transport",
            "irc",
            "--json",
            "--quiet",
        ])
        .args(["--subscribers", "10", "--publishers", "2", "--rate", "100"])
        .args(["--seconds", "1", "--drain", "5", "--timeout", "120"])
        .output()
        .expect("run pipechat-bench");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "exit {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        output.status
    );
    let report: Value = serde_json::from_str(stdout.trim()).expect("one JSON report");
    assert_eq!(report["problems"], Value::Array(vec![]), "{report}");
    let figures = &report["figures"];
    assert_eq!(figures["pipechat_sent"], 100, "{report}");
    assert_eq!(figures["pipechat_deliveries"], 1000, "{report}");
    assert_eq!(figures["pipechat_lost"], 0, "{report}");
    if std::path::Path::new("/usr/sbin/ngircd").exists() {
        assert_eq!(figures["ngircd_deliveries"], 1000, "{report}");
    } else {
        println!("ngircd is not installed: the comparison was not run");
    }
}

/// `send` and `fanout` over the WebSocket transport (`--transport ws`):
/// every message acknowledged and delivered, nothing lost.
#[test]
fn send_and_fanout_run_over_websocket() {
    for scenario in ["send", "fanout"] {
        let mut command = Command::new(env!("CARGO_BIN_EXE_pipechat-bench"));
        command
            .args([
                scenario,
                "--spawn",
                "--json",
                "--quiet",
                "--transport",
                "ws",
            ])
            .args(["--timeout", "300"]);
        if scenario == "send" {
            command.args(["--connections", "4", "--messages", "50"]);
        } else {
            command.args(["--subscribers", "20", "--publishers", "2", "--rate", "200"]);
            command.args(["--seconds", "1", "--users", "3", "--drain", "3"]);
        }
        let output = command.output().expect("run pipechat-bench");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{scenario}: exit {:?}\n{stdout}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        let report: Value = serde_json::from_str(stdout.trim()).expect("one JSON report");
        assert_eq!(report["problems"], Value::Array(vec![]), "{report}");
        assert!(
            report["params"]["server"]
                .as_str()
                .is_some_and(|s| s.contains("WebSocket")),
            "{report}"
        );
        let figures = &report["figures"];
        if scenario == "send" {
            assert_eq!(figures["acked"], 200, "{figures}");
        } else {
            assert_eq!(figures["lost"], 0, "{figures}");
            assert_eq!(figures["deliveries"], 4000, "{figures}");
        }
    }
}
