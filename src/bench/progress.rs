//! Progress bars on standard error, so that long runs show they are alive
//! without mixing into the results on standard output. Hidden with `--quiet`
//! and whenever standard error is not a terminal.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::Ctx;

/// A bar counting up to `len`, labelled `what`.
pub fn bar(ctx: &Ctx, len: u64, what: &str) -> ProgressBar {
    let target = if ctx.quiet {
        ProgressDrawTarget::hidden()
    } else {
        ProgressDrawTarget::stderr()
    };
    let bar = ProgressBar::with_draw_target(Some(len), target);
    let style = ProgressStyle::with_template(
        "{prefix:>24} [{elapsed_precise}] {wide_bar} {human_pos}/{human_len} ({per_sec})",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_prefix(what.to_string());
    bar
}
