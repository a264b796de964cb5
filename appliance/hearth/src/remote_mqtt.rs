//! `hearth mqtt show|set`: the running daemon's MQTT connection settings
//! (`/api/v1/settings/mqtt`) from the command line, as the settings page
//! has them. The password is read from stdin, never from the command line
//! (where `ps` would show it), and never printed.

use crate::remote::{Client, Target};
use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use serde_json::{Map, Value};
use std::io::BufRead as _;

#[derive(Debug, Subcommand)]
pub enum MqttCommand {
    /// Show the MQTT connection in force (never the password).
    Show {
        #[command(flatten)]
        target: Target,
        /// Print the daemon's JSON.
        #[arg(long)]
        json: bool,
    },
    /// Change the MQTT connection: the daemon checks it, stores it and
    /// reconnects with it. Options left out keep their value.
    Set(MqttSetArgs),
}

#[derive(Debug, Args)]
pub struct MqttSetArgs {
    #[command(flatten)]
    pub target: Target,
    /// Connect to the broker.
    #[arg(long, conflicts_with = "disable")]
    pub enable: bool,
    /// Stop using the broker (Hearth heats the same).
    #[arg(long)]
    pub disable: bool,
    #[arg(long, value_name = "HOST")]
    pub host: Option<String>,
    #[arg(long, value_name = "PORT")]
    pub port: Option<u16>,
    /// Broker user name ("" removes it).
    #[arg(long, value_name = "NAME")]
    pub username: Option<String>,
    /// Read the broker password from one line on stdin.
    #[arg(long, conflicts_with = "clear_password")]
    pub password_stdin: bool,
    /// Remove the stored broker password.
    #[arg(long)]
    pub clear_password: bool,
    #[arg(long, value_name = "ID")]
    pub client_id: Option<String>,
    #[arg(long, value_name = "TOPIC")]
    pub base_topic: Option<String>,
    #[arg(long, value_name = "TOPIC")]
    pub discovery_prefix: Option<String>,
}

const PATH: &str = "/api/v1/settings/mqtt";

/// The request body for `set`: only what was given.
pub fn body(args: &MqttSetArgs, password: Option<String>) -> Value {
    let mut m = Map::new();
    if args.enable || args.disable {
        m.insert("enabled".into(), Value::Bool(args.enable));
    }
    let text = [
        ("host", &args.host),
        ("username", &args.username),
        ("client_id", &args.client_id),
        ("base_topic", &args.base_topic),
        ("discovery_prefix", &args.discovery_prefix),
    ];
    for (k, v) in text {
        if let Some(v) = v {
            m.insert(k.into(), Value::String(v.clone()));
        }
    }
    if let Some(p) = args.port {
        m.insert("port".into(), p.into());
    }
    if let Some(p) = password {
        m.insert("password".into(), Value::String(p));
    } else if args.clear_password {
        m.insert("password".into(), Value::Null);
    }
    Value::Object(m)
}

/// For people: one key per line.
pub fn describe(v: &Value) -> String {
    let text = |k: &str| v[k].as_str().unwrap_or("-").to_string();
    let user = match v["username"].as_str() {
        Some(u) => format!(
            "{u} ({})",
            if v["password_set"] == true {
                "password stored"
            } else {
                "no password"
            }
        ),
        None => "none".into(),
    };
    format!(
        "mqtt {}\nbroker {}:{}\nuser {user}\nclient id {}\nbase topic {}\ndiscovery prefix {}\n",
        if v["enabled"] == true {
            "enabled"
        } else {
            "disabled"
        },
        text("host"),
        v["port"],
        text("client_id"),
        text("base_topic"),
        text("discovery_prefix"),
    )
}

pub fn mqtt(cmd: &MqttCommand) -> Result<String> {
    match cmd {
        MqttCommand::Show { target, json } => {
            let v = Client::from_target(target)?.json("GET", PATH, None)?;
            Ok(if *json { v.to_string() } else { describe(&v) })
        }
        MqttCommand::Set(args) => {
            let password = if args.password_stdin {
                let mut line = String::new();
                std::io::stdin()
                    .lock()
                    .read_line(&mut line)
                    .context("reading the broker password from stdin")?;
                Some(line.trim_end_matches(['\r', '\n']).to_string())
            } else {
                None
            };
            let v = Client::from_target(&args.target)?
                .json("PUT", PATH, Some(&body(args, password)))
                .context("changing the MQTT settings")?;
            Ok(describe(&v))
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct T {
        #[command(subcommand)]
        cmd: MqttCommand,
    }

    fn set(args: &[&str]) -> MqttSetArgs {
        let mut v = vec!["t", "set"];
        v.extend_from_slice(args);
        match T::try_parse_from(v).unwrap().cmd {
            MqttCommand::Set(a) => a,
            MqttCommand::Show { .. } => unreachable!(),
        }
    }

    #[test]
    fn only_given_options_are_sent() {
        let a = set(&["--enable", "--port", "8883", "--base-topic", "house"]);
        assert_eq!(
            body(&a, None),
            serde_json::json!({"enabled": true, "port": 8883, "base_topic": "house"})
        );
        let a = set(&["--disable", "--clear-password"]);
        assert_eq!(
            body(&a, None),
            serde_json::json!({"enabled": false, "password": null})
        );
        assert_eq!(body(&set(&[]), None), serde_json::json!({}));
        assert!(T::try_parse_from(["t", "set", "--enable", "--disable"]).is_err());
        assert!(T::try_parse_from(["t", "set", "--port", "99999"]).is_err());
    }
}
