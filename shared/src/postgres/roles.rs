//! Role changes, each in one transaction under a per-role advisory lock. Names reach the server as
//! bind parameters where a statement takes them, else escaped (every identifier and literal) in
//! simple-protocol SQL.
//!
//! The re-sync of the clone costs two round trips whatever the roles look like: one query reads
//! everything it depends on and everything the trust checks need (state.rs), one simple-query batch
//! applies every change (two more when the clone owns objects to reassign; more only when a setting
//! cannot be copied, see settings.rs). An alternating-users rotation's admin transaction is thus
//! six requests: BEGIN, the lock, the read, the batch, the password, COMMIT.

use super::connect::error_chain;
use super::settings::{self, SettingCopy};
use super::state::{read_role_state, RoleState};
use crate::backend::BackendError;
use crate::trust::AdminAllowances;
use postgres_protocol::escape::{escape_identifier, escape_literal};
use secrecy::{ExposeSecret, SecretString};
use std::future::Future;
use tokio_postgres::types::Type;
use tokio_postgres::{Client, Transaction};

/// Opens the re-sync batch, so a failure can be rolled back to it without an extra round trip.
const RESYNC_SAVEPOINT: &str = "rotation_resync";

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

/// Commits a transaction from [`lock_role`], releasing the role's lock.
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
/// unless an owner role is named). Creates the clone if it does not exist. Repeatable. Refuses,
/// before anything changes, what the application secret has no authority for (see
/// `RoleState::check` in state.rs).
pub async fn sync_clone(
    tx: &Transaction<'_>,
    base: &str,
    clone: &str,
    owner: Option<&str>,
    allowances: &AdminAllowances,
) -> Result<(), BackendError> {
    let state = read_role_state(tx, base, clone, owner).await?;
    state.check(base, clone, owner, allowances)?;
    let plan = ResyncPlan::new(&state, base, clone, owner.unwrap_or(base));
    if state.clone.as_ref().is_some_and(|c| c.owns_objects) {
        reassign_owned(tx, &plan).await
    } else {
        match tx.batch_execute(&plan.batch()).await {
            Ok(()) => Ok(()),
            Err(e) => plan.recover(tx, &e).await,
        }
    }
}

/// The statements that bring the clone to the base's state, in order: create the clone if missing,
/// copy attributes, grant it the base role, replace its settings with the base's, then steer the
/// session role to the owner. Simple queries take no parameters, so every identifier and literal
/// is escaped here; the batch never holds a password.
struct ResyncPlan {
    base: String,
    clone: String,
    owner: String,
    clone_ident: String,
    /// Up to the settings: creation, attributes, membership, the clone's own settings reset.
    before: Vec<String>,
    settings: Vec<SettingCopy>,
    /// After the settings: the owner role and the session role.
    after: Vec<String>,
}

impl ResyncPlan {
    fn new(state: &RoleState, base: &str, clone: &str, owner: &str) -> Self {
        let ident = escape_identifier(clone);
        let mut before = Vec::new();
        if state.clone.is_none() {
            before.push(format!("CREATE ROLE {ident} NOLOGIN"));
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
        // Only a superuser may grant these; a non-superuser admin leaves them as they are (an
        // existing clone holding one the base lacks was refused before).
        if state.admin_is_superuser {
            alter.push_str(&format!(
                " {} {}",
                flag(attributes.replication, "REPLICATION"),
                flag(attributes.bypassrls, "BYPASSRLS")
            ));
        }
        before.push(alter);
        before.push(format!("GRANT {} TO {ident}", escape_identifier(base)));
        before.extend(settings::reset_clone_settings(state, &ident));
        let mut after = Vec::new();
        if owner != base {
            // Only to the clone: the base already holds it (checked), and the clone never gains a
            // membership the base lacks.
            after.push(format!("GRANT {} TO {ident}", escape_identifier(owner)));
            after.push(set_session_role(base, owner));
        }
        after.push(set_session_role(clone, owner));
        Self {
            base: base.to_owned(),
            clone: clone.to_owned(),
            owner: owner.to_owned(),
            settings: settings::settings_to_copy(state),
            clone_ident: ident,
            before,
            after,
        }
    }

    fn statements(&self) -> Vec<String> {
        let settings = self
            .settings
            .iter()
            .flat_map(|s| s.statements(&self.clone_ident));
        self.before
            .iter()
            .cloned()
            .chain(settings)
            .chain(self.after.iter().cloned())
            .collect()
    }

    /// One simple-query batch. It opens with a savepoint, so a failure can be taken back without
    /// a round trip on the fast path.
    fn batch(&self) -> String {
        let mut statements = vec![format!("SAVEPOINT {RESYNC_SAVEPOINT}")];
        statements.extend(self.statements());
        statements.join(";\n")
    }

    /// The batch failed: back to its savepoint, then the same statements with the settings copied
    /// one by one, the refused ones skipped. When no setting is to blame, the original error.
    async fn recover(
        &self,
        tx: &Transaction<'_>,
        err: &tokio_postgres::Error,
    ) -> Result<(), BackendError> {
        let what = resync_what(&self.clone);
        let original = sql_error(&what, err);
        if err.as_db_error().is_none() || self.settings.is_empty() {
            return Err(original);
        }
        execute(
            tx,
            &format!("ROLLBACK TO SAVEPOINT {RESYNC_SAVEPOINT}"),
            &what,
        )
        .await?;
        if tx.batch_execute(&self.before.join(";\n")).await.is_err() {
            return Err(original);
        }
        let skipped =
            settings::copy_one_by_one(tx, &self.settings, &self.base, &self.clone_ident).await?;
        if skipped == 0 {
            return Err(original);
        }
        execute(tx, &self.after.join(";\n"), &what).await
    }
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
async fn reassign_owned(tx: &Transaction<'_>, plan: &ResyncPlan) -> Result<(), BackendError> {
    let (clone, owner) = (plan.clone.as_str(), plan.owner.as_str());
    let (sent, held) = pipelined(tx.batch_execute(&plan.batch()), has_role(tx, clone)).await;
    let clone_held = match sent {
        Ok(()) => held?,
        Err(e) => {
            plan.recover(tx, &e).await?;
            has_role(tx, clone).await?
        }
    };
    let mut borrowed = Vec::new();
    let owner_held = if clone_held {
        has_role(tx, owner).await?
    } else {
        let grant = format!("GRANT {} TO CURRENT_USER", escape_identifier(clone));
        borrowed.push(clone);
        let (sent, held) = pipelined(tx.batch_execute(&grant), has_role(tx, owner)).await;
        sent.map_err(|e| sql_error("borrowing a role", &e))?;
        held?
    };
    let mut statements = Vec::new();
    if !owner_held {
        statements.push(format!(
            "GRANT {} TO CURRENT_USER",
            escape_identifier(owner)
        ));
        borrowed.push(owner);
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
pub(super) async fn pipelined<A: Future, B: Future>(first: A, second: B) -> (A::Output, B::Output) {
    tokio::join!(biased; first, second)
}

fn resync_what(clone: &str) -> String {
    format!("re-syncing the clone role {clone}")
}

async fn execute(tx: &Transaction<'_>, sql: &str, what: &str) -> Result<(), BackendError> {
    tx.batch_execute(sql).await.map_err(|e| sql_error(what, &e))
}

pub(super) fn sql_error(what: &str, err: &tokio_postgres::Error) -> BackendError {
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
    use super::super::state::tests::state;
    use super::super::state::{Attributes, CloneState, ScopedSettings};
    use super::*;

    fn statements(state: &RoleState, base: &str, clone: &str, owner: &str) -> Vec<String> {
        ResyncPlan::new(state, base, clone, owner).statements()
    }

    fn existing_clone(setting_scopes: Vec<Option<String>>) -> Option<CloneState> {
        Some(CloneState {
            member_of_base: true,
            setting_scopes,
            ..CloneState::default()
        })
    }

    #[test]
    fn a_missing_clone_is_created_first_and_a_superuser_admin_copies_every_attribute() {
        let state = RoleState {
            clone: None,
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
    fn the_batch_opens_with_its_savepoint() {
        let plan = ResyncPlan::new(&state(), "app", "app_clone", "app");
        assert!(plan
            .batch()
            .starts_with(&format!("SAVEPOINT {RESYNC_SAVEPOINT};\n")));
        assert_eq!(
            plan.batch().split(";\n").skip(1).collect::<Vec<_>>(),
            plan.statements()
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

    /// The base already holds the owner role (RoleState::check refuses otherwise): only the clone
    /// is granted it, and both users act as it.
    #[test]
    fn an_owner_role_the_base_holds_is_granted_to_the_clone_only_and_both_act_as_it() {
        let state = RoleState {
            base_in_owner: true,
            ..state()
        };
        assert_eq!(
            statements(&state, "app", "app_clone", "app_owner"),
            [
                r#"ALTER ROLE "app_clone" WITH INHERIT NOCREATEROLE CREATEDB CONNECTION LIMIT -1"#,
                r#"GRANT "app" TO "app_clone""#,
                r#"GRANT "app_owner" TO "app_clone""#,
                r#"ALTER ROLE "app" SET role = 'app_owner'"#,
                r#"ALTER ROLE "app_clone" SET role = 'app_owner'"#,
            ]
        );
        let lacking = RoleState {
            base_in_owner: false,
            ..state
        };
        assert!(lacking
            .check(
                "app",
                "app_clone",
                Some("app_owner"),
                &AdminAllowances::default()
            )
            .is_err());
    }

    #[test]
    fn settings_are_replaced_per_scope_with_values_kept_exactly_and_session_identity_skipped() {
        let state = RoleState {
            clone: existing_clone(vec![None, Some("Sales DB".into())]),
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
            clone: None,
            ..state()
        };
        assert_eq!(
            statements(&state, base, &clone, owner),
            [
                r#"CREATE ROLE "x""; DROP ROLE postgres; --'_clone" NOLOGIN"#,
                r#"ALTER ROLE "x""; DROP ROLE postgres; --'_clone" WITH INHERIT NOCREATEROLE CREATEDB CONNECTION LIMIT -1"#,
                r#"GRANT "x""; DROP ROLE postgres; --'" TO "x""; DROP ROLE postgres; --'_clone""#,
                r#"GRANT "o'; ALTER ROLE postgres NOLOGIN; --\" TO "x""; DROP ROLE postgres; --'_clone""#,
                r#"ALTER ROLE "x""; DROP ROLE postgres; --'" SET role =  E'o''; ALTER ROLE postgres NOLOGIN; --\\'"#,
                r#"ALTER ROLE "x""; DROP ROLE postgres; --'_clone" SET role =  E'o''; ALTER ROLE postgres NOLOGIN; --\\'"#,
            ]
        );
    }
}
