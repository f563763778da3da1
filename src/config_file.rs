//! `--config FILE`: a TOML file whose keys are the command line's long flags, so every flag
//! has a config key with the same name, meaning and validation. Flags given on the command
//! line win over the file.
//!
//! The file is turned into extra command-line arguments and the command line is parsed
//! again: one parser, one set of error messages, nothing that can drift apart.
//!
//! A key holding an array of tables (`[[register]]`) is passed on as one hidden
//! `--KEY-table=JSON` flag per table, which the command's parser reads; a `--KEY` flag given
//! on the command line wins over all of them.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::parser::ValueSource;

/// Why the config file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigFileError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML.
    #[error("config file {path} is not valid TOML: {message}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// What the TOML parser said.
        message: String,
    },
    /// A key names no flag.
    #[error(
        "config file {path}: unknown key `{key}`; keys are the long command-line flags, e.g. {examples}"
    )]
    UnknownKey {
        /// The file.
        path: PathBuf,
        /// The key.
        key: String,
        /// A few valid keys.
        examples: String,
    },
    /// A value of a type no flag takes (a table, a date).
    #[error("config file {path}: `{key}` must be a string, number, true/false or a list of them")]
    BadValue {
        /// The file.
        path: PathBuf,
        /// The key.
        key: String,
    },
}

/// The `--config` path in `args`, if any (`--config FILE` or `--config=FILE`).
pub fn config_path(args: &[OsString]) -> Option<PathBuf> {
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let s = a.to_string_lossy();
        if s == "--config" {
            return it.next().map(PathBuf::from);
        }
        if let Some(v) = s.strip_prefix("--config=") {
            return Some(PathBuf::from(v));
        }
        if s == "--" {
            break;
        }
    }
    None
}

/// `args` plus the file's settings as flags, for every flag that `matches` (the command
/// line parsed alone) did not get from the command line. Keys of another subcommand's flags
/// are accepted and ignored, so one file serves every command.
pub fn merge(
    path: &Path,
    text: &str,
    command: &clap::Command,
    matches: &clap::ArgMatches,
    mut args: Vec<OsString>,
) -> Result<Vec<OsString>, ConfigFileError> {
    let table: toml::Table =
        text.parse()
            .map_err(|e: toml::de::Error| ConfigFileError::Syntax {
                path: path.to_path_buf(),
                message: e.message().to_string(),
            })?;
    let (sub_name, sub_matches) = matches
        .subcommand()
        .map_or((None, None), |(n, m)| (Some(n), Some(m)));
    let sub = sub_name.and_then(|n| command.find_subcommand(n));
    for (key, value) in &table {
        let flag = key.replace('_', "-");
        if flag == "config" {
            continue;
        }
        if let toml::Value::Array(items) = value
            && items.iter().any(toml::Value::is_table)
        {
            push_tables(path, key, items, command, matches, &mut args)?;
            continue;
        }
        // The flag as the current command knows it (top level and global, or its own).
        let here = command
            .get_arguments()
            .chain(sub.into_iter().flat_map(|s| s.get_arguments()))
            .find(|a| a.get_long() == Some(flag.as_str()));
        let known_anywhere =
            here.is_some() || all_args(command).any(|a| a.get_long() == Some(flag.as_str()));
        if !known_anywhere {
            return Err(ConfigFileError::UnknownKey {
                path: path.to_path_buf(),
                key: key.clone(),
                examples: "sip_listen, rtp_ports, http_listen, trusted_networks, data_dir".into(),
            });
        }
        let Some(arg) = here else {
            continue;
        };
        let id = arg.get_id().as_str();
        let from_cli = [Some(matches), sub_matches].into_iter().flatten().any(|m| {
            m.try_contains_id(id).unwrap_or(false)
                && m.value_source(id) == Some(ValueSource::CommandLine)
        });
        if from_cli {
            continue;
        }
        let takes_value = arg.get_action().takes_values();
        let values: Vec<&toml::Value> = match value {
            toml::Value::Array(items) => items.iter().collect(),
            other => vec![other],
        };
        for v in values {
            let text = match v {
                toml::Value::String(s) => s.clone(),
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Float(f) => f.to_string(),
                toml::Value::Boolean(b) if !takes_value => {
                    if *b {
                        args.push(format!("--{flag}").into());
                    }
                    continue;
                }
                toml::Value::Boolean(b) => b.to_string(),
                _ => {
                    return Err(ConfigFileError::BadValue {
                        path: path.to_path_buf(),
                        key: key.clone(),
                    });
                }
            };
            args.push(format!("--{flag}={text}").into());
        }
    }
    Ok(args)
}

/// `[[KEY]]` tables as `--KEY-table=JSON` flags, unless `--KEY` came on the command line.
fn push_tables(
    path: &Path,
    key: &str,
    items: &[toml::Value],
    command: &clap::Command,
    matches: &clap::ArgMatches,
    args: &mut Vec<OsString>,
) -> Result<(), ConfigFileError> {
    let flag = key.replace('_', "-");
    let table_flag = format!("{flag}-table");
    let bad = || ConfigFileError::BadValue {
        path: path.to_path_buf(),
        key: key.to_string(),
    };
    let (sub_name, sub_matches) = matches
        .subcommand()
        .map_or((None, None), |(n, m)| (Some(n), Some(m)));
    let sub = sub_name.and_then(|n| command.find_subcommand(n));
    let here: Vec<&clap::Arg> = command
        .get_arguments()
        .chain(sub.into_iter().flat_map(|s| s.get_arguments()))
        .collect();
    let known_anywhere = all_args(command).any(|a| a.get_long() == Some(table_flag.as_str()));
    if !known_anywhere {
        return Err(bad());
    }
    if !here
        .iter()
        .any(|a| a.get_long() == Some(table_flag.as_str()))
    {
        return Ok(());
    }
    let from_cli = here
        .iter()
        .filter(|a| {
            a.get_long() == Some(flag.as_str()) || a.get_long() == Some(table_flag.as_str())
        })
        .any(|a| {
            let id = a.get_id().as_str();
            [Some(matches), sub_matches].into_iter().flatten().any(|m| {
                m.try_contains_id(id).unwrap_or(false)
                    && m.value_source(id) == Some(ValueSource::CommandLine)
            })
        });
    if from_cli {
        return Ok(());
    }
    for item in items {
        if !item.is_table() {
            return Err(bad());
        }
        let json = serde_json::to_string(item).map_err(|_| bad())?;
        args.push(format!("--{table_flag}={json}").into());
    }
    Ok(())
}

fn all_args(command: &clap::Command) -> Box<dyn Iterator<Item = &clap::Arg> + '_> {
    Box::new(
        command
            .get_arguments()
            .chain(command.get_subcommands().flat_map(all_args)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{Arg, ArgAction, Command};

    fn cli() -> Command {
        Command::new("t")
            .arg(
                Arg::new("data_dir")
                    .long("data-dir")
                    .global(true)
                    .default_value("d"),
            )
            .arg(Arg::new("config").long("config").global(true))
            .subcommand(
                Command::new("serve")
                    .arg(
                        Arg::new("sip_listen")
                            .long("sip-listen")
                            .default_value("0.0.0.0:5060"),
                    )
                    .arg(
                        Arg::new("nets")
                            .long("trusted-networks")
                            .action(ArgAction::Append),
                    )
                    .arg(Arg::new("quiet").long("quiet").action(ArgAction::SetTrue))
                    .arg(
                        Arg::new("register")
                            .long("register")
                            .action(ArgAction::Append),
                    )
                    .arg(
                        Arg::new("register_table")
                            .long("register-table")
                            .action(ArgAction::Append),
                    ),
            )
            .subcommand(
                Command::new("organizer")
                    .arg(Arg::new("json").long("json").action(ArgAction::SetTrue)),
            )
    }

    fn run(argv: &[&str], file: &str) -> Result<clap::ArgMatches, ConfigFileError> {
        let args: Vec<OsString> = argv.iter().map(OsString::from).collect();
        let m = cli().get_matches_from(args.clone());
        let merged = merge(Path::new("c.toml"), file, &cli(), &m, args)?;
        Ok(cli().get_matches_from(merged))
    }

    #[test]
    fn file_values_fill_in_and_flags_win() {
        let file = "sip_listen = \"127.0.0.1:5070\"\ndata-dir = \"/var/lib/x\"\n\
                    trusted_networks = [\"10.0.0.0/8\", \"192.0.2.0/24\"]\nquiet = true\n";
        let m = run(&["t", "serve"], file).unwrap();
        let (_, s) = m.subcommand().unwrap();
        assert_eq!(s.get_one::<String>("sip_listen").unwrap(), "127.0.0.1:5070");
        assert_eq!(s.get_one::<String>("data_dir").unwrap(), "/var/lib/x");
        let nets: Vec<&String> = s.get_many::<String>("nets").unwrap().collect();
        assert_eq!(nets, ["10.0.0.0/8", "192.0.2.0/24"]);
        assert!(s.get_flag("quiet"));

        let m = run(&["t", "serve", "--sip-listen", "127.0.0.1:6000"], file).unwrap();
        let (_, s) = m.subcommand().unwrap();
        assert_eq!(
            s.get_one::<String>("sip_listen").unwrap(),
            "127.0.0.1:6000",
            "the flag wins"
        );
    }

    #[test]
    fn keys_of_other_commands_are_ignored_and_unknown_keys_refused() {
        let m = run(&["t", "organizer"], "sip_listen = \"127.0.0.1:5070\"\n").unwrap();
        assert_eq!(m.subcommand_name(), Some("organizer"));
        let err = run(&["t", "serve"], "sip_lisen = \"x\"\n").unwrap_err();
        assert!(err.to_string().contains("unknown key `sip_lisen`"), "{err}");
        let err = run(&["t", "serve"], "sip_listen = { a = 1 }\n").unwrap_err();
        assert!(matches!(err, ConfigFileError::BadValue { .. }), "{err}");
        let err = run(&["t", "serve"], "sip_listen = \n").unwrap_err();
        assert!(matches!(err, ConfigFileError::Syntax { .. }), "{err}");
    }

    #[test]
    fn arrays_of_tables_become_table_flags_unless_the_flag_is_given() {
        let file =
            "[[register]]\nuri = \"sip:1@a\"\nexpires = 60\n\n[[register]]\nuri = \"sip:2@b\"\n";
        let m = run(&["t", "serve"], file).unwrap();
        let (_, s) = m.subcommand().unwrap();
        let tables: Vec<serde_json::Value> = s
            .get_many::<String>("register_table")
            .unwrap()
            .map(|j| serde_json::from_str(j).unwrap())
            .collect();
        assert_eq!(tables.len(), 2);
        assert_eq!(tables[0]["uri"], "sip:1@a");
        assert_eq!(tables[0]["expires"], 60);
        assert_eq!(tables[1]["uri"], "sip:2@b");

        let m = run(&["t", "serve", "--register", "sip:3@c"], file).unwrap();
        let (_, s) = m.subcommand().unwrap();
        assert!(
            s.get_many::<String>("register_table").is_none(),
            "the flag wins"
        );

        let err = run(&["t", "serve"], "[[sip_listen]]\na = 1\n").unwrap_err();
        assert!(matches!(err, ConfigFileError::BadValue { .. }), "{err}");
        // Another command's tables are ignored like its keys.
        let m = run(&["t", "organizer"], file).unwrap();
        assert_eq!(m.subcommand_name(), Some("organizer"));
    }

    #[test]
    fn config_path_is_found_in_both_spellings() {
        let a: Vec<OsString> = ["t", "--config", "x.toml", "serve"]
            .iter()
            .map(OsString::from)
            .collect();
        assert_eq!(config_path(&a), Some(PathBuf::from("x.toml")));
        let a: Vec<OsString> = ["t", "serve", "--config=y.toml"]
            .iter()
            .map(OsString::from)
            .collect();
        assert_eq!(config_path(&a), Some(PathBuf::from("y.toml")));
    }
}
