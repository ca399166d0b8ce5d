//! An engine's registry entry: its names, what its function needs, how its backend is built.

use super::{Backend, BackendError};
use crate::secret::SecretValue;

/// An engine as the registry ([`crate::engines`]) lists it: each backend module defines its own.
#[derive(Debug)]
pub struct EngineSpec {
    /// The name in logs, metrics, tags, the CLI and Terraform's `engine` variable.
    pub name: &'static str,
    /// Other values of a secret's `engine` field this engine accepts (AWS's spellings).
    pub aliases: &'static [&'static str],
    /// The Cargo package of its rotation function, as `make build` packages it.
    pub function_package: &'static str,
    /// What its function needs besides Secrets Manager.
    pub needs: Needs,
    /// Builds its backend once per process, from the function's AWS configuration.
    pub build: fn(&aws_config::SdkConfig) -> Box<dyn Backend>,
}

impl EngineSpec {
    /// Whether a secret's `engine` field names this engine: its name or an alias, exactly.
    pub fn accepts(&self, engine: &str) -> bool {
        engine == self.name || self.aliases.contains(&engine)
    }

    /// A secret's `engine` field, when present, must name this engine: a secret meant for another
    /// function is refused before anything reads its other fields.
    pub fn check_engine_field(&self, value: &SecretValue) -> Result<(), BackendError> {
        match value.optional_str("engine")? {
            Some(engine) if !self.accepts(engine) => Err(BackendError::InvalidField {
                field: "engine".into(),
                problem: format!("must be {} for this function", self.name),
            }),
            _ => Ok(()),
        }
    }
}

/// What an engine's function needs besides Secrets Manager; Terraform grants and wires it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Needs {
    /// Resolves database endpoints through RDS (`rds:DescribeDBInstances`, `rds:DescribeDBClusters`).
    pub rds_lookups: bool,
    /// Reaches a server that lives in a VPC: its function runs attached to that VPC.
    pub vpc: bool,
}
