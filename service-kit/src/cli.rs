//! The command line both binaries share: `<program> [command]`, where the command defaults to
//! `serve`, plus `--version`, `--help` and one answer for anything unknown. Each binary lists
//! its commands as an enum; this module answers everything else the same way for both.

use std::{process::ExitCode, str::FromStr};

/// Declares a binary's commands as an enum that `command` can parse:
/// `service_kit::commands!(Command { Serve = "serve", Healthcheck = "healthcheck" });`
#[macro_export]
macro_rules! commands {
    ($name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        enum $name {
            $($variant),+
        }

        impl ::std::str::FromStr for $name {
            type Err = ();

            fn from_str(name: &str) -> ::std::result::Result<Self, ()> {
                match name {
                    $($text => Ok(Self::$variant),)+
                    _ => Err(()),
                }
            }
        }
    };
}

/// Exit status of a bad command line (`EX_USAGE` is 64; 2 is what shells and clap use).
pub(crate) const USAGE_ERROR: u8 = 2;

/// The command the arguments ask for, or the exit code once the request was answered here.
pub fn command<C: FromStr>(program: &str, version: &str, usage: &str) -> Result<C, ExitCode> {
    command_from(std::env::args().nth(1).as_deref(), program, version, usage)
}

fn command_from<C: FromStr>(argument: Option<&str>, program: &str, version: &str, usage: &str) -> Result<C, ExitCode> {
    match argument.unwrap_or("serve") {
        "--version" | "-V" => {
            println!("{program} {version}");
            Err(ExitCode::SUCCESS)
        }
        "--help" | "-h" | "help" => {
            println!("{usage}");
            Err(ExitCode::SUCCESS)
        }
        name => name.parse().map_err(|_| {
            eprintln!("unknown command {name:?}\n{usage}");
            ExitCode::from(USAGE_ERROR)
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    crate::commands!(Command { Serve = "serve", Healthcheck = "healthcheck" });

    fn parse(argument: Option<&str>) -> Result<Command, ExitCode> {
        command_from(argument, "demo", "1.2.3", "usage: demo [serve|healthcheck]")
    }

    #[test]
    fn no_argument_means_serve() {
        assert!(matches!(parse(None), Ok(Command::Serve)));
        assert!(matches!(parse(Some("healthcheck")), Ok(Command::Healthcheck)));
    }

    #[test]
    fn version_and_help_answer_and_exit_successfully() {
        for argument in ["--version", "-V", "--help", "-h", "help"] {
            assert!(matches!(parse(Some(argument)), Err(code) if code == ExitCode::SUCCESS), "{argument}");
        }
    }

    #[test]
    fn an_unknown_command_is_a_usage_error() {
        assert!(matches!(parse(Some("serv")), Err(code) if code == ExitCode::from(USAGE_ERROR)));
    }
}
