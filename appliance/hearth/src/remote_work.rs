//! `hearth work show|set`: the running daemon's work sources
//! (`/api/v1/settings/work`) from the command line, as the settings page
//! has them. A pool password is read from stdin, never from the command
//! line (where `ps` would show it), and never printed.

use crate::remote::{Client, Target};
use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use serde_json::{json, Map, Value};
use std::io::BufRead as _;

#[derive(Debug, Subcommand)]
pub enum WorkCommand {
    /// Show the work sources in force, in failover order (never a password).
    Show {
        #[command(flatten)]
        target: Target,
        /// Print the daemon's JSON.
        #[arg(long)]
        json: bool,
    },
    /// Change the work sources: the daemon checks them, stores them and
    /// restarts its sources with them while the boards keep heating.
    /// Options left out keep their value.
    Set(WorkSetArgs),
}

#[derive(Debug, Args)]
pub struct WorkSetArgs {
    #[command(flatten)]
    pub target: Target,
    /// Our sharechain node first in the failover order.
    #[arg(long, conflicts_with = "no_sharechain")]
    pub sharechain: bool,
    /// Pools only.
    #[arg(long)]
    pub no_sharechain: bool,
    /// The new pool list, in failover order, one `NAME,URL,USER` each
    /// (repeat the option). A pool keeps the password stored under its name.
    #[arg(long = "pool", value_name = "NAME,URL,USER")]
    pub pools: Vec<String>,
    /// Read the password of pool NAME from one line on stdin.
    #[arg(long, value_name = "NAME", conflicts_with = "clear_password")]
    pub password_stdin: Option<String>,
    /// Set the password of pool NAME back to Stratum's customary `x`.
    #[arg(long, value_name = "NAME")]
    pub clear_password: Option<String>,
}

const PATH: &str = "/api/v1/settings/work";

/// `NAME,URL,USER` as a pool of the request body.
fn parse_pool(text: &str) -> Result<Map<String, Value>> {
    let parts: Vec<&str> = text.splitn(3, ',').collect();
    let [name, url, user] = parts[..] else {
        bail!("--pool {text:?}: expected NAME,URL,USER");
    };
    let mut m = Map::new();
    m.insert("name".into(), json!(name));
    m.insert("url".into(), json!(url));
    m.insert("user".into(), json!(user));
    Ok(m)
}

/// The request body for `set`: only what was given. `current` (the
/// daemon's answer to GET) is the pool list when only a password changes.
pub fn body(args: &WorkSetArgs, password: Option<String>, current: &Value) -> Result<Value> {
    let mut m = Map::new();
    if args.sharechain || args.no_sharechain {
        m.insert("sharechain".into(), Value::Bool(args.sharechain));
    }
    let change = match (&args.password_stdin, &args.clear_password) {
        (Some(name), _) => Some((name, password.map_or(Value::Null, Value::String))),
        (None, Some(name)) => Some((name, Value::Null)),
        (None, None) => None,
    };
    let mut pools: Vec<Map<String, Value>> = if !args.pools.is_empty() {
        args.pools
            .iter()
            .map(|p| parse_pool(p))
            .collect::<Result<_>>()?
    } else if change.is_some() {
        current["pools"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| {
                let mut m = Map::new();
                for k in ["name", "url", "user"] {
                    m.insert(k.into(), p[k].clone());
                }
                m
            })
            .collect()
    } else {
        Vec::new()
    };
    if let Some((name, password)) = change {
        let Some(pool) = pools.iter_mut().find(|p| p["name"] == name.as_str()) else {
            bail!("no pool named {name:?} in the list");
        };
        pool.insert("password".into(), password);
    }
    if !pools.is_empty() {
        m.insert(
            "pools".into(),
            Value::Array(pools.into_iter().map(Value::Object).collect()),
        );
    }
    Ok(Value::Object(m))
}

/// For people: the sources in failover order.
pub fn describe(v: &Value) -> String {
    let mut out = String::new();
    let mut n = 1;
    if v["sharechain"] == true {
        out.push_str("1. sharechain (our node)\n");
        n += 1;
    }
    for p in v["pools"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "{n}. {} {} user {} ({})\n",
            p["name"].as_str().unwrap_or("?"),
            p["url"].as_str().unwrap_or("?"),
            p["user"].as_str().unwrap_or("?"),
            if p["password_set"] == true {
                "password stored"
            } else {
                "no password"
            }
        ));
        n += 1;
    }
    if n == 1 {
        out.push_str("no work source: heat-only work\n");
    }
    out.push_str(if v["stored"] == true {
        "from the settings stored by the API (over the config file's [work])\n"
    } else {
        "from the config file's [work]\n"
    });
    out
}

pub fn work(cmd: &WorkCommand) -> Result<String> {
    match cmd {
        WorkCommand::Show { target, json } => {
            let v = Client::from_target(target)?.json("GET", PATH, None)?;
            Ok(if *json { v.to_string() } else { describe(&v) })
        }
        WorkCommand::Set(args) => {
            let password = if args.password_stdin.is_some() {
                let mut line = String::new();
                std::io::stdin()
                    .lock()
                    .read_line(&mut line)
                    .context("reading the pool password from stdin")?;
                Some(line.trim_end_matches(['\r', '\n']).to_string())
            } else {
                None
            };
            let client = Client::from_target(&args.target)?;
            let current = if args.pools.is_empty()
                && (args.password_stdin.is_some() || args.clear_password.is_some())
            {
                client.json("GET", PATH, None)?
            } else {
                Value::Null
            };
            let v = client
                .json("PUT", PATH, Some(&body(args, password, &current)?))
                .context("changing the work sources")?;
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
        cmd: WorkCommand,
    }

    fn set(args: &[&str]) -> WorkSetArgs {
        let mut v = vec!["t", "set"];
        v.extend_from_slice(args);
        match T::try_parse_from(v).unwrap().cmd {
            WorkCommand::Set(a) => a,
            WorkCommand::Show { .. } => unreachable!(),
        }
    }

    #[test]
    fn only_given_options_are_sent_and_passwords_go_to_their_pool() {
        let none = Value::Null;
        assert_eq!(body(&set(&[]), None, &none).unwrap(), json!({}));
        let a = set(&[
            "--no-sharechain",
            "--pool",
            "b,stratum+tcp://b.example:3333,bc1qb.heater",
            "--pool",
            "a,a.example:1,u,with,commas",
        ]);
        assert_eq!(
            body(&a, None, &none).unwrap(),
            json!({"sharechain": false, "pools": [
                {"name": "b", "url": "stratum+tcp://b.example:3333", "user": "bc1qb.heater"},
                {"name": "a", "url": "a.example:1", "user": "u,with,commas"}]})
        );
        let current = json!({"pools": [
            {"priority": 1, "name": "a", "url": "a.example:1", "user": "u", "password_set": true},
            {"priority": 2, "name": "b", "url": "b.example:1", "user": "v", "password_set": false}]});
        let a = set(&["--password-stdin", "b"]);
        assert_eq!(
            body(&a, Some("pw".into()), &current).unwrap(),
            json!({"pools": [
                {"name": "a", "url": "a.example:1", "user": "u"},
                {"name": "b", "url": "b.example:1", "user": "v", "password": "pw"}]})
        );
        let a = set(&["--clear-password", "a"]);
        assert_eq!(
            body(&a, None, &current).unwrap()["pools"][0]["password"],
            Value::Null
        );
        assert!(body(&set(&["--clear-password", "zz"]), None, &current).is_err());
        assert!(body(&set(&["--pool", "only,two"]), None, &none).is_err());
        assert!(T::try_parse_from(["t", "set", "--sharechain", "--no-sharechain"]).is_err());
    }

    #[test]
    fn describe_lists_the_failover_order_without_passwords() {
        let v = json!({"sharechain": true, "stored": true, "pools": [
            {"priority": 1, "name": "a", "url": "a.example:1", "user": "u", "password_set": true}]});
        assert_eq!(
            describe(&v),
            "1. sharechain (our node)\n2. a a.example:1 user u (password stored)\n\
             from the settings stored by the API (over the config file's [work])\n"
        );
    }
}
