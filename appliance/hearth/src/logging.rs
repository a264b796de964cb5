//! Logging with tracing: structured key=value fields in plain text. Under
//! systemd (JOURNAL_STREAM is set) timestamps and colours are left out, since
//! journald adds its own and would store the escape codes.

use tracing_subscriber::EnvFilter;

pub fn init(verbose: bool) {
    let default = if verbose { "debug" } else { "info" };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let under_journald = std::env::var_os("JOURNAL_STREAM").is_some();
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    let result = if under_journald {
        builder.without_time().try_init()
    } else {
        builder.try_init()
    };
    // Already initialised (tests) is fine.
    let _ = result;
}
