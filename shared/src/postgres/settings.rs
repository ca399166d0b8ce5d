//! The base role's per-role settings, copied to the clone. Each value goes through set_config and
//! `SET … FROM CURRENT`, so list values such as a multi-schema search_path keep their exact form.
//! set_config is schema-qualified: a copied search_path is in force for the rest of the transaction.
//!
//! A setting ALTER ROLE accepted but set_config refuses (a default_tablespace that does not exist,
//! a superuser-only setting a non-superuser admin may not set) must not block every later rotation:
//! the re-sync then copies the settings one by one and skips the refused ones with a warning.

use super::state::RoleState;
use crate::backend::BackendError;
use postgres_protocol::escape::{escape_identifier, escape_literal};
use tokio_postgres::Transaction;

/// Settings that must not be applied with set_config inside the admin's own session.
const SESSION_IDENTITY_SETTINGS: [&str; 2] = ["role", "session_authorization"];
const PROBE: &str = "rotation_setting";

/// One base setting to copy: its scope (`None` for every database), name and value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct SettingCopy {
    pub database: Option<String>,
    pub name: String,
    pub value: String,
}

impl SettingCopy {
    /// The two statements that copy it to the clone.
    pub fn statements(&self, clone_ident: &str) -> [String; 2] {
        [
            format!(
                "SELECT pg_catalog.set_config({}, {}, true)",
                escape_literal(&self.name),
                escape_literal(&self.value)
            ),
            format!(
                "ALTER ROLE {clone_ident}{} SET {} FROM CURRENT",
                database_scope(self.database.as_deref()),
                escape_identifier(&self.name)
            ),
        ]
    }
}

/// The base's settings to copy, in catalog order, session identity settings left out.
pub(super) fn settings_to_copy(state: &RoleState) -> Vec<SettingCopy> {
    let mut copies = Vec::new();
    for settings in &state.base_settings {
        for entry in &settings.config {
            let Some((name, value)) = entry.split_once('=') else {
                continue;
            };
            if SESSION_IDENTITY_SETTINGS.contains(&name.to_ascii_lowercase().as_str()) {
                continue;
            }
            copies.push(SettingCopy {
                database: settings.database.clone(),
                name: name.to_owned(),
                value: value.to_owned(),
            });
        }
    }
    copies
}

/// Resets the clone's own settings in every scope it has some, before the base's are copied.
pub(super) fn reset_clone_settings(state: &RoleState, clone_ident: &str) -> Vec<String> {
    state
        .clone
        .iter()
        .flat_map(|c| &c.setting_scopes)
        .map(|database| {
            format!(
                "ALTER ROLE {clone_ident}{} RESET ALL",
                database_scope(database.as_deref())
            )
        })
        .collect()
}

pub(super) fn database_scope(database: Option<&str>) -> String {
    database
        .map(|d| format!(" IN DATABASE {}", escape_identifier(d)))
        .unwrap_or_default()
}

/// Copies each setting under a savepoint of its own, skipping (with a warning that names the
/// setting, never its value) the ones the server refuses. Returns how many were skipped.
pub(super) async fn copy_one_by_one(
    tx: &Transaction<'_>,
    copies: &[SettingCopy],
    base: &str,
    clone_ident: &str,
) -> Result<usize, BackendError> {
    let mut skipped = 0;
    for copy in copies {
        let [set, alter] = copy.statements(clone_ident);
        let attempt = format!("SAVEPOINT {PROBE};\n{set};\n{alter};\nRELEASE SAVEPOINT {PROBE}");
        match tx.batch_execute(&attempt).await {
            Ok(()) => {}
            Err(e) if e.as_db_error().is_some() => {
                tx.batch_execute(&format!(
                    "ROLLBACK TO SAVEPOINT {PROBE}; RELEASE SAVEPOINT {PROBE}"
                ))
                .await
                .map_err(|e| super::roles::sql_error("skipping a setting", &e))?;
                skipped += 1;
                tracing::warn!(
                    role = base,
                    setting = copy.name.as_str(),
                    database = copy.database.as_deref(),
                    sqlstate = e.code().map(|c| c.code()),
                    "a per-role setting of the base role cannot be applied by the admin and was \
                     not copied to the clone"
                );
            }
            Err(e) => return Err(super::roles::sql_error("copying a setting", &e)),
        }
    }
    Ok(skipped)
}
