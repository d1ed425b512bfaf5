//! Colour only where a person reads it: `NO_COLOR` always wins, `CLICOLOR_FORCE`
//! forces it into a pipe, and a pipe gets none by default.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const ESC: char = '\x1b';

/// A command with none of the colour variables the test runner may have set.
fn clean(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_msa-migrate"));
    command.args(args);
    for name in ["NO_COLOR", "CLICOLOR_FORCE", "CLICOLOR", "TERM", "RUST_LOG"] {
        command.env_remove(name);
    }
    command.envs(env.iter().copied());
    command
}

/// The proxy's `proxy listening` log line, as it writes it to stderr (a pipe here).
fn proxy_log_line(env: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("proxy.yaml");
    std::fs::write(
        &config,
        "listen: 127.0.0.1:0\nworkers: 1\nlegacy: monolith\nwatch: false\nadmin:\n  listen: 127.0.0.1:0\n\
         upstreams:\n  monolith:\n    endpoints: [127.0.0.1:9]\n",
    )
    .unwrap();
    let mut proxy = clean(&["proxy", "--config", &config.display().to_string()], env)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("msa-migrate runs");
    let stderr = proxy.stderr.take().unwrap();
    let (found, line) = mpsc::channel();
    std::thread::spawn(move || {
        for text in BufReader::new(stderr).lines().map_while(Result::ok) {
            if text.contains("proxy listening") {
                let _ = found.send(text);
                return;
            }
        }
    });
    let line = line.recv_timeout(Duration::from_secs(60));
    let _ = proxy.kill();
    let _ = proxy.wait();
    line.expect("the proxy logs `proxy listening` on stderr")
}

#[test]
fn logs_are_plain_in_a_pipe_coloured_when_forced_and_never_with_no_color() {
    let plain = proxy_log_line(&[]);
    assert!(!plain.contains(ESC), "colour into a pipe: {plain:?}");

    let forced = proxy_log_line(&[("CLICOLOR_FORCE", "1")]);
    assert!(forced.contains(ESC), "CLICOLOR_FORCE=1 ignored: {forced:?}");

    let no_color = proxy_log_line(&[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")]);
    assert!(
        !no_color.contains(ESC),
        "colour despite NO_COLOR: {no_color:?}"
    );
}

#[test]
fn help_follows_the_same_rules() {
    let help = |env: &[(&str, &str)]| {
        let out = clean(&["--help"], env).output().unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap()
    };
    assert!(!help(&[]).contains(ESC));
    assert!(help(&[("CLICOLOR_FORCE", "1")]).contains(ESC));
    assert!(!help(&[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")]).contains(ESC));
}
