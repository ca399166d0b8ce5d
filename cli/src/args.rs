//! The command line, parsed by clap.

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser, Subcommand};
use rotation::engines::{self, EngineSpec};
use rotation::rotation_log;
use rotation::store::ListFilter;
use std::time::{Duration, SystemTime};

#[derive(Debug, Parser)]
#[command(
    name = "rotationctl",
    version,
    about = "Operate secret rotation on AWS Secrets Manager: status, rotate, emergency, history, \
             check-expiring.",
    long_about = "Operate secret rotation on AWS Secrets Manager: status, rotate, emergency, history, \
                  check-expiring.\n\n\
                  Credentials, region and endpoint come from the usual AWS environment \
                  (AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL, ...), or --profile / --region.\n\n\
                  Exit codes: 0 success, 1 AWS or rotation failure, 2 usage error, \
                  3 `status --check` found an unhealthy secret, or `check-expiring` found \
                  something expiring.",
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
    /// Rotate now and revoke the previous credential at once (tags rotation:mode=emergency): one
    /// secret, or every secret of a class (--all, --engine, --tag, --prefix).
    Emergency(EmergencyArgs),
    /// Versions of a secret with their stages and dates, and who rotated them, how and why.
    History(HistoryArgs),
    /// Secrets whose next rotation falls within a window (or is overdue), and JWT keys whose
    /// grace ends within it.
    CheckExpiring(CheckExpiringArgs),
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
    #[arg(long, visible_alias = "prefix", value_name = "PREFIX")]
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
        list_filter(self.name_prefix.as_deref(), self.tag.as_ref())
    }
}

/// What ListSecrets is asked for: a name prefix and a tag, each optional.
fn list_filter(prefix: Option<&str>, tag: Option<&TagFilter>) -> ListFilter {
    ListFilter {
        name_prefix: prefix.map(str::to_owned),
        tag_key: tag.map(|t| t.key.clone()),
        tag_value: tag.and_then(|t| t.value.clone()),
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

    /// Why: kept in the rotation log (`history`) and the function's audit lines.
    #[arg(long, value_name = "TEXT", value_parser = parse_reason)]
    pub reason: Option<String>,
}

#[derive(Debug, Args)]
#[command(group(
    clap::ArgGroup::new("selection")
        .args(["secret_id", "all", "engine", "tag", "prefix"])
        .multiple(true)
        .required(true)
))]
pub struct EmergencyArgs {
    /// One secret, by name or ARN.
    #[arg(value_name = "SECRET", conflicts_with_all = ["all", "tag", "prefix"])]
    pub secret_id: Option<String>,

    /// Every rotation-enabled secret (narrowed by --engine, --tag, --prefix).
    #[arg(long)]
    pub all: bool,

    /// Only secrets of this engine (the rotation:engine tag, else the rotation function's name).
    /// With --local, also the backend of a secret whose value has no `engine` field.
    #[arg(long, value_parser = engine_parser())]
    pub engine: Option<&'static EngineSpec>,

    /// Only secrets with this tag (KEY, or KEY=VALUE).
    #[arg(long, value_name = "KEY[=VALUE]", value_parser = parse_tag)]
    pub tag: Option<TagFilter>,

    /// Only secrets whose name starts with PREFIX.
    #[arg(long, value_name = "PREFIX")]
    pub prefix: Option<String>,

    /// Why (required): kept in the rotation log and the audit lines. Running the same command
    /// with the same reason again finishes what failed and skips what this incident rotated.
    #[arg(long, value_name = "TEXT", value_parser = parse_reason, required = true)]
    pub reason: String,

    /// Secrets rotated at the same time.
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub concurrency: u16,

    /// Do not ask for confirmation (required when standard input is not a terminal).
    #[arg(long, short = 'y')]
    pub yes: bool,

    /// Run the four rotation steps here, with your credentials, instead of invoking each
    /// secret's rotation function.
    #[arg(long)]
    pub local: bool,

    /// With --local and one SECRET: continue the emergency rotation already pending on it.
    /// (Over a class, a pending emergency rotation is always continued.)
    #[arg(long, requires = "local")]
    pub resume: bool,

    /// Return once Secrets Manager has started each rotation.
    #[arg(long, conflicts_with = "local")]
    pub no_wait: bool,

    /// Seconds to wait for each rotation function to finish.
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = 300,
        conflicts_with = "local"
    )]
    pub timeout: u64,
}

impl EmergencyArgs {
    /// The options of one secret's rotation.
    pub fn rotate_args(&self, secret_id: &str, resume: bool) -> RotateArgs {
        RotateArgs {
            secret_id: secret_id.to_owned(),
            local: self.local,
            resume,
            engine: self.engine,
            no_wait: self.no_wait,
            timeout: self.timeout,
            reason: Some(self.reason.clone()),
        }
    }

    /// What ListSecrets is asked for.
    pub fn filter(&self) -> ListFilter {
        list_filter(self.prefix.as_deref(), self.tag.as_ref())
    }
}

#[derive(Debug, Args)]
pub struct CheckExpiringArgs {
    /// The window: `14d`, `36h`, `90m`.
    #[arg(long, value_name = "DURATION", default_value = "14d", value_parser = parse_window)]
    pub within: Duration,

    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,

    /// Only secrets whose name starts with PREFIX.
    #[arg(long, value_name = "PREFIX")]
    pub prefix: Option<String>,

    /// Only secrets with this tag (KEY, or KEY=VALUE).
    #[arg(long, value_name = "KEY[=VALUE]", value_parser = parse_tag)]
    pub tag: Option<TagFilter>,

    /// Evaluate as of TIME (RFC 3339) instead of now.
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub at: Option<SystemTime>,
}

impl CheckExpiringArgs {
    pub fn filter(&self) -> ListFilter {
        list_filter(self.prefix.as_deref(), self.tag.as_ref())
    }
}

/// A reason as the rotation log keeps it (a tag value): refused when nothing is left of it or it
/// is too long, rather than cut.
fn parse_reason(raw: &str) -> Result<String, String> {
    let kept = rotation_log::tag_text(raw, usize::MAX);
    if kept.is_empty() {
        return Err("the reason is empty (letters, digits and spaces are kept)".into());
    }
    let chars = kept.chars().count();
    if chars > rotation_log::MAX_REASON_CHARS {
        return Err(format!(
            "the reason has {chars} characters; at most {} fit in the rotation log",
            rotation_log::MAX_REASON_CHARS
        ));
    }
    Ok(kept)
}

/// `14d`, `36h`, `90m`, `45s`.
fn parse_window(raw: &str) -> Result<Duration, String> {
    let raw = raw.trim();
    let split = raw
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("`{raw}` has no unit; expected e.g. 14d, 36h, 90m"))?;
    let (number, unit) = raw.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("`{raw}`: expected a whole number before the unit, e.g. 14d"))?;
    let unit_seconds = match unit {
        "d" => 86_400,
        "h" => 3_600,
        "m" => 60,
        "s" => 1,
        _ => return Err(format!("`{raw}`: the unit is one of d, h, m, s")),
    };
    number
        .checked_mul(unit_seconds)
        .filter(|secs| *secs <= 400 * 86_400)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("`{raw}` is longer than 400 days"))
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
    fn an_emergency_names_a_secret_or_a_class_and_a_reason() {
        let parse = |args: &[&str]| {
            Cli::try_parse_from(["rotationctl", "emergency"].iter().chain(args).copied())
        };
        assert!(parse(&["--reason", "x"]).is_err(), "no selection");
        assert!(parse(&["--all"]).is_err(), "no reason");
        assert!(parse(&["s", "--all", "--reason", "x"]).is_err());
        assert!(parse(&["--all", "--resume", "--reason", "x"]).is_err());
        assert!(parse(&["--engine", "jwt", "--prefix", "p", "--reason", "INC-1"]).is_ok());
        assert!(parse(&["s", "--reason", "INC-1", "--local", "--resume"]).is_ok());
        assert!(parse(&["--all", "--reason", "x", "--concurrency", "0"]).is_err());
        assert!(
            parse(&["--all", "--reason", "((!))"]).is_err(),
            "nothing kept"
        );
        let long = "x".repeat(121);
        assert!(parse(&["--all", "--reason", &long]).is_err());
    }

    #[test]
    fn windows_take_a_unit() {
        assert_eq!(parse_window("14d"), Ok(Duration::from_secs(14 * 86_400)));
        assert_eq!(parse_window("36h"), Ok(Duration::from_secs(36 * 3_600)));
        assert_eq!(parse_window("90m"), Ok(Duration::from_secs(5_400)));
        for bad in ["14", "d", "1.5d", "3w", "401d", "99999999999999999999d"] {
            assert!(parse_window(bad).is_err(), "{bad}");
        }
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
