//! `rotationctl`: the operator's view of secret rotation. See docs/operations.md.

mod args;
mod emergency;
mod error;
mod expiring;
mod incident;
mod local;
mod rotate;
mod status;
mod table;

use args::{Cli, Command};
use clap::{CommandFactory, Parser};
use error::CliError;
use rotation::store::AwsSecretStore;
use std::io::Write;
use std::process::ExitCode;

/// What every command works with: one AWS configuration and the Secrets Manager store built on it.
pub struct Context {
    pub config: aws_config::SdkConfig,
    pub store: AwsSecretStore,
}

impl Context {
    async fn load(cli: &Cli) -> Self {
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
        if let Some(profile) = &cli.profile {
            loader = loader.profile_name(profile);
        }
        if let Some(region) = &cli.region {
            loader = loader.region(aws_config::Region::new(region.clone()));
        }
        let config = loader.load().await;
        let store = AwsSecretStore::new(aws_sdk_secretsmanager::Client::new(&config));
        Self { config, store }
    }

    /// The ARN of whoever runs the command (STS GetCallerIdentity, which needs no permission):
    /// the requester the rotation log names.
    pub async fn caller_arn(&self) -> Result<String, CliError> {
        let identity = aws_sdk_sts::Client::new(&self.config)
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| {
                CliError::Identity(aws_sdk_sts::error::DisplayErrorContext(e).to_string())
            })?;
        identity
            .arn()
            .map(str::to_owned)
            .ok_or_else(|| CliError::Identity("the answer named no ARN".into()))
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(&e),
    };
    rotation::runtime::install_crypto_provider();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return report(&CliError::Io(e)),
    };
    match runtime.block_on(run(&cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => report(&e),
    }
}

async fn run(cli: &Cli) -> Result<(), CliError> {
    let ctx = Context::load(cli).await;
    let (mut out, mut progress) = (std::io::stdout().lock(), std::io::stderr());
    match &cli.command {
        Command::Status(args) => status::status(&ctx, args, &mut out, &mut progress).await,
        Command::History(args) => status::history(&ctx, args, &mut out).await,
        Command::Rotate(args) => rotate::rotate(&ctx, args, &mut out, &mut progress).await,
        Command::Emergency(args) => incident::emergency(&ctx, args, &mut out, &mut progress).await,
        Command::CheckExpiring(args) => expiring::check_expiring(&ctx, args, &mut out).await,
    }
}

/// --help and --version exit 0 through clap; any other parse error prints the error and the
/// usage of the command at hand, and exits 2.
fn usage_error(error: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(
        error.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        error.exit();
    }
    let text = error.render().to_string();
    let mut stderr = std::io::stderr();
    if text.contains("Usage:") {
        let _ = write!(stderr, "{text}");
    } else {
        let hint = "For more information, try '--help'.";
        let body = text.trim_end().trim_end_matches(hint).trim_end();
        let _ = writeln!(stderr, "{body}\n\n{}\n\n{hint}", usage());
    }
    ExitCode::from(error::EXIT_USAGE)
}

/// The usage line of the subcommand named on the command line, else of the whole tool.
fn usage() -> String {
    let mut command = Cli::command();
    command.build();
    let named = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .and_then(|name| {
            command
                .find_subcommand(&name)
                .map(|c| c.clone().render_usage())
        });
    named.unwrap_or_else(|| command.render_usage()).to_string()
}

fn report(error: &CliError) -> ExitCode {
    let mut stderr = std::io::stderr();
    let _ = writeln!(stderr, "error: {error}");
    if let CliError::Usage(_) = error {
        let _ = writeln!(
            stderr,
            "\n{}\n\nFor more information, try '--help'.",
            usage()
        );
    }
    error.exit_code()
}
