//! The command line, parsed by clap.

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser, Subcommand};
use rotation::engines::{self, EngineSpec};
use rotation::store::ListFilter;
use std::time::SystemTime;

#[derive(Debug, Parser)]
#[command(
    name = "rotationctl",
    version,
    about = "Operate secret rotation on AWS Secrets Manager: status, rotate, emergency, history.",
    long_about = "Operate secret rotation on AWS Secrets Manager: status, rotate, emergency, history.\n\n\
                  Credentials, region and endpoint come from the usual AWS environment \
                  (AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL, ...), or --profile / --region.\n\n\
                  Exit codes: 0 success, 1 AWS or rotation failure, 2 usage error, \
                  3 `status --check` found an unhealthy secret.",
    arg_required_else_help = true,
    propagate_version = true
)]
pub struct Cli {
    /// Named AWS profile (default: AWS_PROFILE, else the default profile).
    #[arg(long, global = true, value_name = "NAME", help_heading = "AWS")]
    pub profile: Option<String>,

    /// AWS region (default: AWS_REGION, else the profile's).
    #[arg(long, global = true, value_name = "REGION", help_heading = "AWS")]
    pub region: Option<String>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Rotation health of every rotation-enabled secret: engine, last and next rotation, overdue,
    /// stuck AWSPENDING.
    Status(StatusArgs),
    /// Rotate a secret now: through Secrets Manager (its rotation function), or from this
    /// terminal with --local.
    Rotate(RotateArgs),
    /// Rotate now and revoke the previous credential at once (tags rotation:mode=emergency).
    Emergency(EmergencyArgs),
    /// Versions of a secret with their stages and dates.
    History(HistoryArgs),
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,

    /// Also list secrets without rotation.
    #[arg(long)]
    pub all: bool,

    /// Only secrets whose name starts with PREFIX.
    #[arg(long, value_name = "PREFIX")]
    pub name_prefix: Option<String>,

    /// Only secrets with this tag (KEY, or KEY=VALUE).
    #[arg(long, value_name = "KEY[=VALUE]", value_parser = parse_tag)]
    pub tag: Option<TagFilter>,

    /// Evaluate as of TIME (RFC 3339, e.g. 2026-05-01T00:00:00Z): what will be overdue by then.
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub at: Option<SystemTime>,

    /// Exit with 3 when a secret is overdue or has a stuck AWSPENDING.
    #[arg(long)]
    pub check: bool,
}

impl StatusArgs {
    pub fn filter(&self) -> ListFilter {
        ListFilter {
            name_prefix: self.name_prefix.clone(),
            tag_key: self.tag.as_ref().map(|t| t.key.clone()),
            tag_value: self.tag.as_ref().and_then(|t| t.value.clone()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagFilter {
    pub key: String,
    pub value: Option<String>,
}

fn parse_tag(raw: &str) -> Result<TagFilter, String> {
    let (key, value) = match raw.split_once('=') {
        Some((key, value)) => (key, Some(value.to_owned())),
        None => (raw, None),
    };
    if key.is_empty() {
        return Err("the tag key is empty; expected KEY or KEY=VALUE".into());
    }
    Ok(TagFilter {
        key: key.to_owned(),
        value,
    })
}

fn parse_time(raw: &str) -> Result<SystemTime, String> {
    rotation::health::parse_time(raw)
        .ok_or_else(|| "expected an RFC 3339 time such as 2026-05-01T00:00:00Z".into())
}

/// `--engine`: the registry's names and aliases, listed in `--help`.
fn engine_parser() -> impl TypedValueParser<Value = &'static EngineSpec> {
    let names = engines::ALL
        .iter()
        .map(|spec| PossibleValue::new(spec.name).aliases(spec.aliases.iter().copied()));
    PossibleValuesParser::new(names)
        .try_map(|name| engines::find(&name).ok_or_else(|| format!("no engine is called {name}")))
}

#[derive(Debug, Args)]
pub struct RotateArgs {
    /// Secret name or ARN.
    #[arg(value_name = "SECRET")]
    pub secret_id: String,

    /// Run the four rotation steps here, with your credentials, instead of invoking the
    /// secret's rotation function.
    #[arg(long)]
    pub local: bool,

    /// With --local: continue the rotation already pending on the secret (same version).
    #[arg(long, requires = "local")]
    pub resume: bool,

    /// With --local: the backend to use when the secret has no `engine` field.
    #[arg(long, value_parser = engine_parser(), requires = "local")]
    pub engine: Option<&'static EngineSpec>,

    /// Return once Secrets Manager has started the rotation.
    #[arg(long, conflicts_with = "local")]
    pub no_wait: bool,

    /// Seconds to wait for the rotation function to finish.
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = 300,
        conflicts_with = "local"
    )]
    pub timeout: u64,
}

#[derive(Debug, Args)]
pub struct EmergencyArgs {
    #[command(flatten)]
    pub rotate: RotateArgs,

    /// Do not ask for confirmation (required when standard input is not a terminal).
    #[arg(long, short = 'y')]
    pub yes: bool,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Secret name or ARN.
    #[arg(value_name = "SECRET")]
    pub secret_id: String,

    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn tag_filters_take_a_key_and_an_optional_value() {
        assert_eq!(
            parse_tag("team=sre"),
            Ok(TagFilter {
                key: "team".into(),
                value: Some("sre".into())
            })
        );
        assert_eq!(
            parse_tag("team"),
            Ok(TagFilter {
                key: "team".into(),
                value: None
            })
        );
        assert!(parse_tag("=x").is_err());
    }

    #[test]
    fn local_only_options_need_local() {
        assert!(Cli::try_parse_from(["rotationctl", "rotate", "s", "--resume"]).is_err());
        assert!(
            Cli::try_parse_from(["rotationctl", "rotate", "s", "--local", "--no-wait"]).is_err()
        );
        assert!(Cli::try_parse_from(["rotationctl", "rotate", "s", "--local", "--resume"]).is_ok());
    }
}
