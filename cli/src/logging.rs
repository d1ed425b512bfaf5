//! Logs go to stderr (stdout is for data), as text or JSON lines; `RUST_LOG`
//! sets the level, `info` by default. Text is coloured only when [`colour`]
//! says so.

use std::ffi::OsString;
use std::io::IsTerminal;

pub(crate) fn init(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder
            .with_ansi(colour(std::io::stderr().is_terminal()))
            .init();
    }
}

/// Whether to write ANSI colour to a stream, by the conventions clap and
/// cargo follow (<https://no-color.org>, <https://bixense.com/clicolors/>):
/// `NO_COLOR` set to anything but the empty string turns colour off, whatever
/// else is set; then `CLICOLOR_FORCE` set to anything but `0` or empty turns
/// it on, even into a pipe; then `CLICOLOR=0` or `TERM=dumb` turn it off;
/// otherwise it is on only when the stream is a terminal.
pub(crate) fn colour(stream_is_terminal: bool) -> bool {
    colour_from(stream_is_terminal, |name| std::env::var_os(name))
}

fn colour_from(stream_is_terminal: bool, var: impl Fn(&str) -> Option<OsString>) -> bool {
    let set = |name: &str| var(name).filter(|v| !v.is_empty());
    if set("NO_COLOR").is_some() {
        return false;
    }
    if set("CLICOLOR_FORCE").is_some_and(|v| v != "0") {
        return true;
    }
    if set("CLICOLOR").is_some_and(|v| v == "0") || set("TERM").is_some_and(|v| v == "dumb") {
        return false;
    }
    stream_is_terminal
}

#[cfg(test)]
mod tests {
    use std::ffi::OsString;

    use super::colour_from;

    fn with(vars: &[(&str, &str)], terminal: bool) -> bool {
        colour_from(terminal, |name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| OsString::from(v))
        })
    }

    #[test]
    fn colour_follows_no_color_then_clicolor_force_then_the_terminal() {
        assert!(with(&[], true));
        assert!(!with(&[], false));
        assert!(!with(&[("NO_COLOR", "1")], true));
        assert!(
            with(&[("NO_COLOR", "")], true),
            "an empty NO_COLOR is unset"
        );
        assert!(with(&[("CLICOLOR_FORCE", "1")], false));
        assert!(!with(&[("CLICOLOR_FORCE", "0")], false));
        assert!(
            !with(&[("NO_COLOR", "1"), ("CLICOLOR_FORCE", "1")], true),
            "NO_COLOR wins"
        );
        assert!(!with(&[("CLICOLOR", "0")], true));
        assert!(!with(&[("TERM", "dumb")], true));
        assert!(with(&[("TERM", "dumb"), ("CLICOLOR_FORCE", "1")], false));
    }
}
