//! Emergency revocation. The login is revoked and committed first, then the sessions are ended in
//! repeated passes: a login in flight while the revocation was uncommitted passed its check and
//! shows up in pg_stat_activity a moment later, so one pass in the same transaction could miss it.

use super::roles::{commit, lock_role, sql_error};
use super::state::check_acted_on;
use crate::backend::BackendError;
use crate::trust::AdminAllowances;
use postgres_protocol::escape::escape_identifier;
use std::time::Duration;
use tokio_postgres::types::Type;
use tokio_postgres::Client;

/// At least this many passes, a pause apart, whatever the first ones find.
const MIN_PASSES: u32 = 2;
/// Terminated backends stay in pg_stat_activity until they exit; past this many passes with
/// sessions still found, the step fails and its retry (the tag stays) goes on.
const MAX_PASSES: u32 = 50;
const PAUSE: Duration = Duration::from_millis(100);

/// Alternating users: `demoted` can no longer log in (committed), then its sessions end. The admin
/// never acts this way on itself or a superuser unless the admin side allows it.
pub async fn revoke_alternate(
    admin: &mut Client,
    base: &str,
    demoted: &str,
    allowances: &AdminAllowances,
) -> Result<(), BackendError> {
    let tx = lock_role(admin, base).await?;
    check_acted_on(&tx, demoted, allowances).await?;
    tx.batch_execute(&format!(
        "ALTER ROLE {} NOLOGIN VALID UNTIL '-infinity'",
        escape_identifier(demoted)
    ))
    .await
    .map_err(|e| sql_error("revoking the login", &e))?;
    commit(tx).await?;
    end_sessions(admin, demoted).await
}

/// Ends every session of `role` but the caller's own, pass after pass (each its own statement, so
/// each reads a fresh pg_stat_activity), until a pass finds none and at least `MIN_PASSES` have
/// run. A role may end its own sessions; the admin needs pg_signal_backend for another role's.
pub async fn end_sessions(client: &Client, role: &str) -> Result<(), BackendError> {
    let what = format!("ending the sessions of {role}");
    for pass in 1..=MAX_PASSES {
        let row = client
            .query_typed_one(
                "SELECT count(pg_catalog.pg_terminate_backend(pid)) FROM pg_catalog.pg_stat_activity \
                 WHERE usename = $1 AND pid <> pg_catalog.pg_backend_pid()",
                &[(&role, Type::TEXT)],
            )
            .await
            .map_err(|e| sql_error(&what, &e))?;
        let found: i64 = row.try_get(0).map_err(|e| sql_error(&what, &e))?;
        if found == 0 && pass >= MIN_PASSES {
            return Ok(());
        }
        tokio::time::sleep(PAUSE).await;
    }
    Err(BackendError::Rejected {
        target: "PostgreSQL".into(),
        detail: format!("{what}: sessions were still found after {MAX_PASSES} passes"),
    })
}
