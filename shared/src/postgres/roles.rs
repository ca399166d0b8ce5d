//! Role changes, each in one transaction under a per-role advisory lock. Names reach the server as
//! bind parameters where a statement takes them, else escaped (every identifier and literal) in
//! simple-protocol SQL.
//!
//! The re-sync of the clone costs two round trips whatever the roles look like: one query reads
//! everything it depends on, one simple-query batch applies every change (two more when the clone
//! owns objects to reassign). An alternating-users rotation's admin transaction is thus six
//! requests: BEGIN, the lock, the read, the batch, the password, COMMIT.

use super::connect::error_chain;
use crate::backend::BackendError;
use postgres_protocol::escape::{escape_identifier, escape_literal};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::future::Future;
use tokio_postgres::types::Type;
use tokio_postgres::{Client, Row, Transaction};

/// Settings that must not be applied with set_config inside the admin's own session.
const SESSION_IDENTITY_SETTINGS: [&str; 2] = ["role", "session_authorization"];

/// Serializes rotations of one role: two concurrent ALTER ROLE fail with "tuple concurrently updated".
pub async fn lock_role<'a>(
    client: &'a mut Client,
    base_user: &str,
) -> Result<Transaction<'a>, BackendError> {
    let tx = client
        .transaction()
        .await
        .map_err(|e| sql_error("BEGIN", &e))?;
    // Typed parameters: one round trip, no prepared statement to describe first and close after.
    tx.query_typed(
        "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
        &[(&format!("secret-rotation/{base_user}"), Type::TEXT)],
    )
    .await
    .map_err(|e| sql_error("advisory lock", &e))?;
    Ok(tx)
}

pub async fn commit(tx: Transaction<'_>) -> Result<(), BackendError> {
    tx.commit().await.map_err(|e| sql_error("COMMIT", &e))
}

/// A SCRAM-SHA-256 verifier computed here, so neither the server nor its log sees the password.
pub fn scram_verifier(password: &SecretString) -> SecretString {
    SecretString::from(postgres_protocol::password::scram_sha_256(
        password.expose_secret().as_bytes(),
    ))
}

/// Sets `role`'s password. `reactivate` also restores LOGIN and clears an expiry (needs CREATEROLE),
/// undoing an earlier emergency revocation.
pub async fn set_password(
    tx: &Transaction<'_>,
    role: &str,
    password: &SecretString,
    reactivate: bool,
) -> Result<(), BackendError> {
    let verifier = scram_verifier(password);
    let mut sql = format!(
        "ALTER ROLE {} PASSWORD {}",
        escape_identifier(role),
        escape_literal(verifier.expose_secret())
    );
    if reactivate {
        sql.push_str(" LOGIN VALID UNTIL 'infinity'");
    }
    tx.batch_execute(&sql).await.map_err(|e| {
        // A server message could quote the statement, which holds the verifier.
        let detail = e.as_db_error().map_or_else(
            || "no detail".to_owned(),
            |db| format!("SQLSTATE {}", db.code().code()),
        );
        BackendError::Rejected {
            target: "PostgreSQL".into(),
            detail: format!("setting the password of {role} failed ({detail})"),
        }
    })
}

/// Brings `clone` to the state of `base`: attributes, membership, per-role settings copied exactly,
/// and the session role steered so objects created by either user belong to `owner` (the base role
/// unless an owner role is named). Creates the clone if it does not exist. Repeatable.
pub async fn sync_clone(
    tx: &Transaction<'_>,
    base: &str,
    clone: &str,
    owner: Option<&str>,
) -> Result<(), BackendError> {
    let owner = owner.unwrap_or(base);
    let state = read_role_state(tx, base, clone).await?;
    let resync = resync_statements(&state, base, clone, owner);
    if state.clone_owns_objects {
        reassign_owned(tx, resync, clone, owner).await
    } else {
        execute(tx, &resync, &resync_what(clone)).await
    }
}

/// Stops `role` from logging in and ends its sessions (emergency rotation). Both statements go in
/// one round trip (see `pipelined`).
pub async fn revoke_login(tx: &Transaction<'_>, role: &str) -> Result<(), BackendError> {
    let revoke = format!(
        "ALTER ROLE {} NOLOGIN VALID UNTIL '-infinity'",
        escape_identifier(role)
    );
    let (revoked, ended) = pipelined(tx.batch_execute(&revoke), end_sessions(tx, role)).await;
    revoked.map_err(|e| sql_error("revoking the login", &e))?;
    ended.map_err(|e| sql_error("ending the revoked user's sessions", &e))
}

async fn end_sessions(tx: &Transaction<'_>, role: &str) -> Result<(), tokio_postgres::Error> {
    tx.query_typed(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1 AND pid <> pg_backend_pid()",
        &[(&role, Type::TEXT)],
    )
    .await
    .map(drop)
}

/// What the re-sync of the clone depends on, read before anything changes.
#[derive(Debug, Clone, PartialEq)]
struct RoleState {
    base: Attributes,
    /// Only a superuser may grant REPLICATION and BYPASSRLS.
    admin_is_superuser: bool,
    clone_exists: bool,
    /// The scopes of the clone's per-role settings: `None` for every database.
    clone_setting_scopes: Vec<Option<String>>,
    base_settings: Vec<ScopedSettings>,
    /// Whether the clone owns objects in this database.
    clone_owns_objects: bool,
}

/// The role attributes copied to the clone.
#[derive(Debug, Clone, PartialEq)]
struct Attributes {
    inherit: bool,
    createrole: bool,
    createdb: bool,
    connection_limit: i32,
    replication: bool,
    bypassrls: bool,
}

/// One row of pg_db_role_setting: `name=value` entries for one database, or for every database.
#[derive(Debug, Clone, PartialEq, Deserialize)]
struct ScopedSettings {
    database: Option<String>,
    config: Vec<String>,
}

/// The roles' state in one query. No row: the base role does not exist.
const ROLE_STATE: &str = "\
WITH clone AS (SELECT oid FROM pg_roles WHERE rolname = $2)
SELECT b.rolinherit, b.rolcreaterole, b.rolcreatedb, b.rolconnlimit, b.rolreplication, b.rolbypassrls,
  (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS admin_is_superuser,
  EXISTS (SELECT 1 FROM clone) AS clone_exists,
  ARRAY(SELECT d.datname::text FROM pg_db_role_setting s LEFT JOIN pg_database d ON d.oid = s.setdatabase
        WHERE s.setrole = (SELECT oid FROM clone) ORDER BY d.datname NULLS FIRST) AS clone_setting_scopes,
  (SELECT coalesce(json_agg(json_build_object('database', d.datname, 'config', coalesce(s.setconfig, '{}'))
                            ORDER BY d.datname NULLS FIRST), '[]')::text
   FROM pg_db_role_setting s LEFT JOIN pg_database d ON d.oid = s.setdatabase
   WHERE s.setrole = b.oid) AS base_settings,
  EXISTS (SELECT 1 FROM pg_shdepend s WHERE s.refobjid = (SELECT oid FROM clone) AND s.deptype = 'o'
          AND s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())) AS clone_owns_objects
FROM pg_roles b WHERE b.rolname = $1";

async fn read_role_state(
    tx: &Transaction<'_>,
    base: &str,
    clone: &str,
) -> Result<RoleState, BackendError> {
    let what = "reading the roles' state";
    let row = tx
        .query_typed_opt(ROLE_STATE, &[(&base, Type::TEXT), (&clone, Type::TEXT)])
        .await
        .map_err(|e| sql_error(what, &e))?
        .ok_or_else(|| BackendError::Rejected {
            target: "PostgreSQL".into(),
            detail: format!("the base role {base} does not exist"),
        })?;
    let base_settings: String = column(&row, "base_settings")?;
    Ok(RoleState {
        base: Attributes {
            inherit: column(&row, "rolinherit")?,
            createrole: column(&row, "rolcreaterole")?,
            createdb: column(&row, "rolcreatedb")?,
            connection_limit: column(&row, "rolconnlimit")?,
            replication: column(&row, "rolreplication")?,
            bypassrls: column(&row, "rolbypassrls")?,
        },
        admin_is_superuser: column(&row, "admin_is_superuser")?,
        clone_exists: column(&row, "clone_exists")?,
        clone_setting_scopes: column(&row, "clone_setting_scopes")?,
        base_settings: serde_json::from_str(&base_settings).map_err(|e| {
            BackendError::Rejected {
                target: "PostgreSQL".into(),
                detail: format!("{what}: unexpected settings of the base role: {e}"),
            }
        })?,
        clone_owns_objects: column(&row, "clone_owns_objects")?,
    })
}

fn column<'a, T: tokio_postgres::types::FromSql<'a>>(
    row: &'a Row,
    name: &str,
) -> Result<T, BackendError> {
    row.try_get(name).map_err(|e| BackendError::Rejected {
        target: "PostgreSQL".into(),
        detail: format!("reading the roles' state: column {name}: {e}"),
    })
}

/// The statements that bring `clone` to `state.base`, in order, as one simple-query batch: create
/// the clone if missing, copy attributes, grant it the base role, replace its settings with the
/// base's, then steer both users' session role to `owner`. Simple queries take no parameters, so
/// every identifier and literal is escaped here; the batch never holds a password.
fn resync_statements(state: &RoleState, base: &str, clone: &str, owner: &str) -> String {
    let ident = escape_identifier(clone);
    let mut statements = Vec::new();
    if !state.clone_exists {
        statements.push(format!("CREATE ROLE {ident} NOLOGIN"));
    }
    let flag = |on: bool, name: &str| {
        if on {
            name.to_owned()
        } else {
            format!("NO{name}")
        }
    };
    let attributes = &state.base;
    let mut alter = format!(
        "ALTER ROLE {ident} WITH {} {} {} CONNECTION LIMIT {}",
        flag(attributes.inherit, "INHERIT"),
        flag(attributes.createrole, "CREATEROLE"),
        flag(attributes.createdb, "CREATEDB"),
        attributes.connection_limit
    );
    // Only a superuser may grant these; a non-superuser admin leaves them as they are.
    if state.admin_is_superuser {
        alter.push_str(&format!(
            " {} {}",
            flag(attributes.replication, "REPLICATION"),
            flag(attributes.bypassrls, "BYPASSRLS")
        ));
    }
    statements.push(alter);
    statements.push(format!("GRANT {} TO {ident}", escape_identifier(base)));
    statements.extend(copy_settings(state, &ident));
    if owner != base {
        for member in [base, clone] {
            statements.push(format!(
                "GRANT {} TO {}",
                escape_identifier(owner),
                escape_identifier(member)
            ));
        }
        statements.push(set_session_role(base, owner));
    }
    statements.push(set_session_role(clone, owner));
    statements.join(";\n")
}

/// Replaces the clone's per-role settings (database-wide and per database) with the base's. Each
/// value goes through set_config and `SET … FROM CURRENT`, so list values such as a multi-schema
/// search_path keep their exact form. set_config is schema-qualified: a copied search_path is in
/// force for the rest of the transaction.
fn copy_settings(state: &RoleState, clone_ident: &str) -> Vec<String> {
    let mut statements: Vec<String> = state
        .clone_setting_scopes
        .iter()
        .map(|database| {
            format!(
                "ALTER ROLE {clone_ident}{} RESET ALL",
                database_scope(database.as_deref())
            )
        })
        .collect();
    for settings in &state.base_settings {
        let scope = database_scope(settings.database.as_deref());
        for entry in &settings.config {
            let Some((name, value)) = entry.split_once('=') else {
                continue;
            };
            if SESSION_IDENTITY_SETTINGS.contains(&name.to_ascii_lowercase().as_str()) {
                continue;
            }
            statements.push(format!(
                "SELECT pg_catalog.set_config({}, {}, true)",
                escape_literal(name),
                escape_literal(value)
            ));
            statements.push(format!(
                "ALTER ROLE {clone_ident}{scope} SET {} FROM CURRENT",
                escape_identifier(name)
            ));
        }
    }
    statements
}

fn database_scope(database: Option<&str>) -> String {
    database
        .map(|d| format!(" IN DATABASE {}", escape_identifier(d)))
        .unwrap_or_default()
}

/// Sessions of `member` act as `owner`, so what they create belongs to `owner`.
fn set_session_role(member: &str, owner: &str) -> String {
    format!(
        "ALTER ROLE {} SET role = {}",
        escape_identifier(member),
        escape_literal(owner)
    )
}

/// Runs the re-sync, then moves the objects the clone owns in this database (e.g. made before its
/// session role was steered) to the owner, so either user can alter and drop them. REASSIGN OWNED
/// needs the privileges of both roles; a CREATEROLE admin (RDS's master user) lends them to itself
/// inside this transaction only. Whether it holds each role is asked at the point where the earlier
/// statements have run (they can change what it inherits), each question pipelined with them.
async fn reassign_owned(
    tx: &Transaction<'_>,
    resync: String,
    clone: &str,
    owner: &str,
) -> Result<(), BackendError> {
    let mut unsent = resync;
    let mut unsent_what = resync_what(clone);
    let mut borrowed = Vec::new();
    for role in [clone, owner] {
        let held = if unsent.is_empty() {
            has_role(tx, role).await?
        } else {
            let (sent, held) = pipelined(tx.batch_execute(&unsent), has_role(tx, role)).await;
            sent.map_err(|e| sql_error(&unsent_what, &e))?;
            held?
        };
        unsent.clear();
        if !held {
            unsent = format!("GRANT {} TO CURRENT_USER", escape_identifier(role));
            unsent_what = "borrowing a role".into();
            borrowed.push(role);
        }
    }
    let mut statements = Vec::new();
    if !unsent.is_empty() {
        statements.push(unsent);
    }
    statements.push(format!(
        "REASSIGN OWNED BY {} TO {}",
        escape_identifier(clone),
        escape_identifier(owner)
    ));
    for role in borrowed {
        statements.push(format!(
            "REVOKE {} FROM CURRENT_USER",
            escape_identifier(role)
        ));
    }
    execute(
        tx,
        &statements.join(";\n"),
        "reassigning the clone's objects",
    )
    .await
}

/// Whether the admin has the privileges of `role`. Schema-qualified: a copied search_path may be in
/// force.
async fn has_role(tx: &Transaction<'_>, role: &str) -> Result<bool, BackendError> {
    let row = tx
        .query_typed_one(
            "SELECT pg_catalog.pg_has_role(current_user, $1, 'USAGE')",
            &[(&role, Type::TEXT)],
        )
        .await
        .map_err(|e| sql_error("checking role privileges", &e))?;
    row.try_get(0)
        .map_err(|e| sql_error("checking role privileges", &e))
}

/// Two requests on one session in one round trip, the server running `first` before `second`.
/// tokio-postgres sends a request when its future is first polled and the server answers in order,
/// so `biased` (poll in the order written) is what keeps the order. Both run to the end: when
/// `first` fails, `second` fails too (the transaction is aborted), and the caller reports `first`.
async fn pipelined<A: Future, B: Future>(first: A, second: B) -> (A::Output, B::Output) {
    tokio::join!(biased; first, second)
}

fn resync_what(clone: &str) -> String {
    format!("re-syncing the clone role {clone}")
}

async fn execute(tx: &Transaction<'_>, sql: &str, what: &str) -> Result<(), BackendError> {
    tx.batch_execute(sql).await.map_err(|e| sql_error(what, &e))
}

fn sql_error(what: &str, err: &tokio_postgres::Error) -> BackendError {
    let detail = match err.as_db_error() {
        Some(db) => format!("{what}: {} ({})", db.message(), db.code().code()),
        None => format!("{what}: {}", error_chain(err)),
    };
    BackendError::Rejected {
        target: "PostgreSQL".into(),
        detail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> RoleState {
        RoleState {
            base: Attributes {
                inherit: true,
                createrole: false,
                createdb: true,
                connection_limit: -1,
                replication: false,
                bypassrls: true,
            },
            admin_is_superuser: false,
            clone_exists: true,
            clone_setting_scopes: Vec::new(),
            base_settings: Vec::new(),
            clone_owns_objects: false,
        }
    }

    fn statements(state: &RoleState, base: &str, clone: &str, owner: &str) -> Vec<String> {
        resync_statements(state, base, clone, owner)
            .split(";\n")
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn a_missing_clone_is_created_first_and_a_superuser_admin_copies_every_attribute() {
        let state = RoleState {
            clone_exists: false,
            admin_is_superuser: true,
            ..state()
        };
        assert_eq!(
            statements(&state, "app", "app_clone", "app"),
            [
                r#"CREATE ROLE "app_clone" NOLOGIN"#,
                r#"ALTER ROLE "app_clone" WITH INHERIT NOCREATEROLE CREATEDB CONNECTION LIMIT -1 NOREPLICATION BYPASSRLS"#,
                r#"GRANT "app" TO "app_clone""#,
                r#"ALTER ROLE "app_clone" SET role = 'app'"#,
            ]
        );
    }

    #[test]
    fn a_non_superuser_admin_leaves_replication_and_bypassrls_alone() {
        let state = RoleState {
            base: Attributes {
                inherit: false,
                createrole: true,
                createdb: false,
                connection_limit: 7,
                replication: true,
                bypassrls: true,
            },
            ..state()
        };
        assert_eq!(
            statements(&state, "app", "app_clone", "app"),
            [
                r#"ALTER ROLE "app_clone" WITH NOINHERIT CREATEROLE NOCREATEDB CONNECTION LIMIT 7"#,
                r#"GRANT "app" TO "app_clone""#,
                r#"ALTER ROLE "app_clone" SET role = 'app'"#,
            ]
        );
    }

    #[test]
    fn an_owner_role_is_granted_to_both_users_and_both_act_as_it() {
        assert_eq!(
            statements(&state(), "app", "app_clone", "app_owner"),
            [
                r#"ALTER ROLE "app_clone" WITH INHERIT NOCREATEROLE CREATEDB CONNECTION LIMIT -1"#,
                r#"GRANT "app" TO "app_clone""#,
                r#"GRANT "app_owner" TO "app""#,
                r#"GRANT "app_owner" TO "app_clone""#,
                r#"ALTER ROLE "app" SET role = 'app_owner'"#,
                r#"ALTER ROLE "app_clone" SET role = 'app_owner'"#,
            ]
        );
    }

    #[test]
    fn settings_are_replaced_per_scope_with_values_kept_exactly_and_session_identity_skipped() {
        let state = RoleState {
            clone_setting_scopes: vec![None, Some("Sales DB".into())],
            base_settings: vec![
                ScopedSettings {
                    database: None,
                    config: vec![
                        r#"search_path=sales, "Mixed Case", "it's", public"#.into(),
                        "Role=admin".into(),
                        "session_authorization=admin".into(),
                        r"application_name=back\slash".into(),
                    ],
                },
                ScopedSettings {
                    database: Some(r#"db "q""#.into()),
                    config: vec!["work_mem=5MB".into()],
                },
            ],
            ..state()
        };
        assert_eq!(
            statements(&state, "app", "app_clone", "app"),
            [
                r#"ALTER ROLE "app_clone" WITH INHERIT NOCREATEROLE CREATEDB CONNECTION LIMIT -1"#,
                r#"GRANT "app" TO "app_clone""#,
                r#"ALTER ROLE "app_clone" RESET ALL"#,
                r#"ALTER ROLE "app_clone" IN DATABASE "Sales DB" RESET ALL"#,
                r#"SELECT pg_catalog.set_config('search_path', 'sales, "Mixed Case", "it''s", public', true)"#,
                r#"ALTER ROLE "app_clone" SET "search_path" FROM CURRENT"#,
                r#"SELECT pg_catalog.set_config('application_name',  E'back\\slash', true)"#,
                r#"ALTER ROLE "app_clone" SET "application_name" FROM CURRENT"#,
                r#"SELECT pg_catalog.set_config('work_mem', '5MB', true)"#,
                r#"ALTER ROLE "app_clone" IN DATABASE "db ""q""" SET "work_mem" FROM CURRENT"#,
                r#"ALTER ROLE "app_clone" SET role = 'app'"#,
            ]
        );
    }

    #[test]
    fn hostile_names_stay_inside_their_quotes() {
        let base = r#"x"; DROP ROLE postgres; --'"#;
        let clone = format!("{base}_clone");
        let owner = r"o'; ALTER ROLE postgres NOLOGIN; --\";
        let state = RoleState {
            clone_exists: false,
            ..state()
        };
        assert_eq!(
            statements(&state, base, &clone, owner),
            [
                r#"CREATE ROLE "x""; DROP ROLE postgres; --'_clone" NOLOGIN"#,
                r#"ALTER ROLE "x""; DROP ROLE postgres; --'_clone" WITH INHERIT NOCREATEROLE CREATEDB CONNECTION LIMIT -1"#,
                r#"GRANT "x""; DROP ROLE postgres; --'" TO "x""; DROP ROLE postgres; --'_clone""#,
                r#"GRANT "o'; ALTER ROLE postgres NOLOGIN; --\" TO "x""; DROP ROLE postgres; --'""#,
                r#"GRANT "o'; ALTER ROLE postgres NOLOGIN; --\" TO "x""; DROP ROLE postgres; --'_clone""#,
                r#"ALTER ROLE "x""; DROP ROLE postgres; --'" SET role =  E'o''; ALTER ROLE postgres NOLOGIN; --\\'"#,
                r#"ALTER ROLE "x""; DROP ROLE postgres; --'_clone" SET role =  E'o''; ALTER ROLE postgres NOLOGIN; --\\'"#,
            ]
        );
    }
}
