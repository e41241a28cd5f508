//! The web client end to end in headless Chromium: runs the Node tests in
//! `tests/browser/` (`node --test`, Playwright driving Debian's `chromium`)
//! against this build's `pipechat-server`.
//!
//! Needs `node`, `chromium` on the `PATH` and `npm ci` done. Where one is
//! missing the test says so and passes locally, but fails under CI (`CI`
//! set), so that a CI run never passes without having run them.

use std::io::Write;
use std::path::Path;
use std::process::Command;

fn on_path(name: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(name).is_file()))
}

/// Why the browser tests cannot run here, if they cannot.
fn missing(root: &Path) -> Option<String> {
    if !on_path("node") {
        return Some("node is not on the PATH".to_string());
    }
    if !on_path("chromium") && !on_path("chromium-browser") {
        return Some("chromium is not on the PATH (apt-get install -y chromium)".to_string());
    }
    if !root
        .join("node_modules/playwright-core/package.json")
        .is_file()
    {
        return Some("node_modules has no playwright-core (run npm ci)".to_string());
    }
    None
}

/// Writes past the test harness's capture, so the outcome shows in every
/// `cargo test` run, CI's included.
fn tell(text: &str) {
    let _ = std::io::stderr().write_all(text.as_bytes());
}

#[test]
fn the_web_client_works_in_chromium() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    if let Some(reason) = missing(root) {
        assert!(
            std::env::var_os("CI").is_none(),
            "the browser tests cannot run under CI: {reason}"
        );
        tell(&format!("\nbrowser tests SKIPPED: {reason}\n"));
        return;
    }
    // A certificate for the HTTPS test, made here (rcgen) so that the Node
    // side needs no tool to make one.
    let certs = tempfile::tempdir().expect("a directory");
    let made =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .expect("a certificate");
    let (cert, key) = (certs.path().join("cert.pem"), certs.path().join("key.pem"));
    std::fs::write(&cert, made.cert.pem()).expect("write the certificate");
    std::fs::write(&key, made.signing_key.serialize_pem()).expect("write the key");
    let output = Command::new("node")
        .args(["--test", "--test-concurrency=1", "tests/browser/"])
        .current_dir(root)
        .env("PIPECHAT_SERVER", env!("CARGO_BIN_EXE_pipechat-server"))
        .env("PIPECHAT_TEST_TLS_CERT", &cert)
        .env("PIPECHAT_TEST_TLS_KEY", &key)
        .output()
        .expect("run node");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let summary: Vec<&str> = stdout
        .lines()
        .filter(|line| {
            line.starts_with("ok ")
                || line.starts_with("not ok ")
                || line.starts_with("# tests")
                || line.starts_with("# pass")
                || line.starts_with("# fail")
                || line.starts_with("# skipped")
        })
        .collect();
    tell(&format!(
        "\nbrowser tests (node --test tests/browser/):\n{}\n",
        summary.join("\n")
    ));
    assert!(
        output.status.success(),
        "the browser tests failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        summary
            .iter()
            .any(|line| line.starts_with("# pass") && line != &"# pass 0"),
        "no browser test passed:\n{stdout}"
    );
}
