//! Role changes, each in one transaction under a per-role advisory lock, as simple-protocol SQL
//! with every identifier and literal escaped.

use super::connect::error_chain;
use crate::backend::BackendError;
use postgres_protocol::escape::{escape_identifier, escape_literal};
use secrecy::{ExposeSecret, SecretString};
use tokio_postgres::{Client, Transaction};

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
    tx.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
        &[&format!("secret-rotation/{base_user}")],
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

/// Whether a role exists.
pub async fn role_exists(tx: &Transaction<'_>, role: &str) -> Result<bool, BackendError> {
    let row = tx
        .query_opt("SELECT 1 FROM pg_roles WHERE rolname = $1", &[&role])
        .await
        .map_err(|e| sql_error("reading pg_roles", &e))?;
    Ok(row.is_some())
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
    let attributes = tx
        .query_opt(
            "SELECT rolinherit, rolcreaterole, rolcreatedb, rolconnlimit, rolreplication, rolbypassrls, \
             (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS admin_is_superuser \
             FROM pg_roles WHERE rolname = $1",
            &[&base],
        )
        .await
        .map_err(|e| sql_error("reading the base role", &e))?
        .ok_or_else(|| BackendError::Rejected { target: "PostgreSQL".into(), detail: format!("the base role {base} does not exist") })?;
    let ident = escape_identifier(clone);
    if !role_exists(tx, clone).await? {
        execute(
            tx,
            &format!("CREATE ROLE {ident} NOLOGIN"),
            "creating the clone role",
        )
        .await?;
    }
    let flag = |on: bool, name: &str| {
        if on {
            name.to_owned()
        } else {
            format!("NO{name}")
        }
    };
    let mut alter = format!(
        "ALTER ROLE {ident} WITH {} {} {} CONNECTION LIMIT {}",
        flag(attributes.get(0), "INHERIT"),
        flag(attributes.get(1), "CREATEROLE"),
        flag(attributes.get(2), "CREATEDB"),
        attributes.get::<_, i32>(3)
    );
    // Only a superuser may grant these; a non-superuser admin leaves them as they are.
    if attributes.get::<_, bool>(6) {
        alter.push_str(&format!(
            " {} {}",
            flag(attributes.get(4), "REPLICATION"),
            flag(attributes.get(5), "BYPASSRLS")
        ));
    }
    execute(tx, &alter, "copying role attributes").await?;
    execute(
        tx,
        &format!("GRANT {} TO {ident}", escape_identifier(base)),
        "granting the base role",
    )
    .await?;
    copy_settings(tx, base, clone).await?;
    let owner = owner.unwrap_or(base);
    if owner != base {
        for member in [base, clone] {
            execute(
                tx,
                &format!(
                    "GRANT {} TO {}",
                    escape_identifier(owner),
                    escape_identifier(member)
                ),
                "granting the owner role",
            )
            .await?;
        }
        set_session_role(tx, base, owner).await?;
    }
    set_session_role(tx, clone, owner).await?;
    reassign_owned(tx, clone, owner).await
}

/// Stops `role` from logging in and ends its sessions (emergency rotation).
pub async fn revoke_login(tx: &Transaction<'_>, role: &str) -> Result<(), BackendError> {
    execute(
        tx,
        &format!(
            "ALTER ROLE {} NOLOGIN VALID UNTIL '-infinity'",
            escape_identifier(role)
        ),
        "revoking the login",
    )
    .await?;
    tx.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1 AND pid <> pg_backend_pid()",
        &[&role],
    )
    .await
    .map_err(|e| sql_error("ending the revoked user's sessions", &e))?;
    Ok(())
}

/// Replaces the clone's per-role settings (database-wide and per database) with the base's. Each
/// value goes through set_config and `SET … FROM CURRENT`, so list values such as a multi-schema
/// search_path keep their exact form.
async fn copy_settings(tx: &Transaction<'_>, base: &str, clone: &str) -> Result<(), BackendError> {
    let settings_of = "SELECT d.datname, s.setconfig FROM pg_db_role_setting s \
                       JOIN pg_roles r ON r.oid = s.setrole LEFT JOIN pg_database d ON d.oid = s.setdatabase \
                       WHERE r.rolname = $1";
    let ident = escape_identifier(clone);
    for row in tx
        .query(settings_of, &[&clone])
        .await
        .map_err(|e| sql_error("reading the clone's settings", &e))?
    {
        let scope = database_scope(row.get(0));
        execute(
            tx,
            &format!("ALTER ROLE {ident}{scope} RESET ALL"),
            "resetting the clone's settings",
        )
        .await?;
    }
    for row in tx
        .query(settings_of, &[&base])
        .await
        .map_err(|e| sql_error("reading the base role's settings", &e))?
    {
        let scope = database_scope(row.get(0));
        let config: Vec<String> = row.get(1);
        for entry in config {
            let Some((name, value)) = entry.split_once('=') else {
                continue;
            };
            if SESSION_IDENTITY_SETTINGS.contains(&name.to_ascii_lowercase().as_str()) {
                continue;
            }
            tx.execute("SELECT set_config($1, $2, true)", &[&name, &value])
                .await
                .map_err(|e| sql_error(&format!("applying setting {name}"), &e))?;
            execute(
                tx,
                &format!(
                    "ALTER ROLE {ident}{scope} SET {} FROM CURRENT",
                    escape_identifier(name)
                ),
                "copying a setting",
            )
            .await?;
        }
    }
    Ok(())
}

fn database_scope(database: Option<String>) -> String {
    database
        .map(|d| format!(" IN DATABASE {}", escape_identifier(&d)))
        .unwrap_or_default()
}

/// Sessions of `member` act as `owner`, so what they create belongs to `owner`.
async fn set_session_role(
    tx: &Transaction<'_>,
    member: &str,
    owner: &str,
) -> Result<(), BackendError> {
    let sql = format!(
        "ALTER ROLE {} SET role = {}",
        escape_identifier(member),
        escape_literal(owner)
    );
    execute(tx, &sql, "steering the session role").await
}

/// Objects the clone owns in this database (e.g. made before its session role was steered) move to
/// the owner, so either user can alter and drop them.
async fn reassign_owned(
    tx: &Transaction<'_>,
    clone: &str,
    owner: &str,
) -> Result<(), BackendError> {
    let owns_something = tx
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_shdepend s JOIN pg_roles r ON r.oid = s.refobjid \
             WHERE r.rolname = $1 AND s.deptype = 'o' \
             AND s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database()))",
            &[&clone],
        )
        .await
        .map_err(|e| sql_error("reading the clone's objects", &e))?
        .get::<_, bool>(0);
    if !owns_something {
        return Ok(());
    }
    // REASSIGN OWNED needs the privileges of both roles; a CREATEROLE admin (RDS's master user)
    // lends them to itself inside this transaction only.
    let mut borrowed = Vec::new();
    for role in [clone, owner] {
        let has = tx
            .query_one("SELECT pg_has_role(current_user, $1, 'USAGE')", &[&role])
            .await
            .map_err(|e| sql_error("checking role privileges", &e))?
            .get::<_, bool>(0);
        if !has {
            execute(
                tx,
                &format!("GRANT {} TO CURRENT_USER", escape_identifier(role)),
                "borrowing a role",
            )
            .await?;
            borrowed.push(role);
        }
    }
    let sql = format!(
        "REASSIGN OWNED BY {} TO {}",
        escape_identifier(clone),
        escape_identifier(owner)
    );
    execute(tx, &sql, "reassigning the clone's objects").await?;
    for role in borrowed {
        execute(
            tx,
            &format!("REVOKE {} FROM CURRENT_USER", escape_identifier(role)),
            "returning a borrowed role",
        )
        .await?;
    }
    Ok(())
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
