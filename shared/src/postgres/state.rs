//! What the admin reads, inside its transaction, before it changes a role: the roles' state in one
//! query, and the checks that keep an application secret from steering the admin at a role it has
//! no authority over (the admin itself, a superuser, a clone that holds more than its base).

use super::roles::sql_error;
use crate::backend::BackendError;
use crate::trust::{refused, AdminAllowances, PRIVILEGED_ENV, PRIVILEGED_FIELD};
use serde::Deserialize;
use tokio_postgres::types::Type;
use tokio_postgres::{Row, Transaction};

/// What the re-sync of the clone depends on, read before anything changes.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct RoleState {
    pub base: Attributes,
    pub base_superuser: bool,
    /// Only a superuser may grant REPLICATION and BYPASSRLS.
    pub admin_is_superuser: bool,
    /// The admin session's current_user and session_user.
    pub admin_users: Vec<String>,
    pub clone: Option<CloneState>,
    /// Whether the base role is a member of the owner role (true when none is named).
    pub base_in_owner: bool,
    pub base_settings: Vec<ScopedSettings>,
}

/// The attributes copied to the clone.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Attributes {
    pub inherit: bool,
    pub createrole: bool,
    pub createdb: bool,
    pub connection_limit: i32,
    pub replication: bool,
    pub bypassrls: bool,
}

/// An existing clone: what it must not hold beyond its base, and what the re-sync replaces.
#[derive(Debug, Clone, PartialEq, Default)]
pub(super) struct CloneState {
    pub superuser: bool,
    pub replication: bool,
    pub bypassrls: bool,
    /// Directly granted the base role: this function and AWS's both make the clone so.
    pub member_of_base: bool,
    /// Roles the clone is directly a member of and the base is not (the base itself excepted).
    pub extra_roles: Vec<String>,
    /// The scopes of the clone's per-role settings: `None` for every database.
    pub setting_scopes: Vec<Option<String>>,
    /// Whether the clone owns objects in this database.
    pub owns_objects: bool,
}

/// One row of pg_db_role_setting: `name=value` entries for one database, or for every database.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub(super) struct ScopedSettings {
    pub database: Option<String>,
    pub config: Vec<String>,
}

/// The roles' state in one query. No row: the base role does not exist. `$3` is the owner role
/// (NULL for none); pg_has_role takes oids so an owner that does not exist is "not a member".
const ROLE_STATE: &str = "\
WITH clone AS (SELECT oid, rolsuper, rolreplication, rolbypassrls FROM pg_catalog.pg_roles WHERE rolname = $2)
SELECT b.rolinherit, b.rolcreaterole, b.rolcreatedb, b.rolconnlimit, b.rolreplication, b.rolbypassrls,
  b.rolsuper,
  (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) AS admin_is_superuser,
  ARRAY[current_user::text, session_user::text] AS admin_users,
  EXISTS (SELECT 1 FROM clone) AS clone_exists,
  coalesce((SELECT rolsuper FROM clone), false) AS clone_super,
  coalesce((SELECT rolreplication FROM clone), false) AS clone_replication,
  coalesce((SELECT rolbypassrls FROM clone), false) AS clone_bypassrls,
  EXISTS (SELECT 1 FROM pg_catalog.pg_auth_members m
          WHERE m.roleid = b.oid AND m.member = (SELECT oid FROM clone)) AS clone_member_of_base,
  ARRAY(SELECT r.rolname::text FROM pg_catalog.pg_auth_members m JOIN pg_catalog.pg_roles r ON r.oid = m.roleid
        WHERE m.member = (SELECT oid FROM clone) AND r.oid <> b.oid
          AND NOT pg_catalog.pg_has_role(b.oid, r.oid, 'MEMBER')
        ORDER BY 1) AS clone_extra_roles,
  ($3::text IS NULL OR EXISTS (SELECT 1 FROM pg_catalog.pg_roles o
                               WHERE o.rolname = $3 AND pg_catalog.pg_has_role(b.oid, o.oid, 'MEMBER'))) AS base_in_owner,
  ARRAY(SELECT d.datname::text FROM pg_catalog.pg_db_role_setting s LEFT JOIN pg_catalog.pg_database d ON d.oid = s.setdatabase
        WHERE s.setrole = (SELECT oid FROM clone) ORDER BY d.datname NULLS FIRST) AS clone_setting_scopes,
  (SELECT coalesce(json_agg(json_build_object('database', d.datname, 'config', coalesce(s.setconfig, '{}'))
                            ORDER BY d.datname NULLS FIRST), '[]')::text
   FROM pg_catalog.pg_db_role_setting s LEFT JOIN pg_catalog.pg_database d ON d.oid = s.setdatabase
   WHERE s.setrole = b.oid) AS base_settings,
  EXISTS (SELECT 1 FROM pg_catalog.pg_shdepend s WHERE s.refobjid = (SELECT oid FROM clone) AND s.deptype = 'o'
          AND s.dbid = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database())) AS clone_owns_objects
FROM pg_catalog.pg_roles b WHERE b.rolname = $1";

pub(super) async fn read_role_state(
    tx: &Transaction<'_>,
    base: &str,
    clone: &str,
    owner: Option<&str>,
) -> Result<RoleState, BackendError> {
    let what = "reading the roles' state";
    let row = tx
        .query_typed_opt(
            ROLE_STATE,
            &[
                (&base, Type::TEXT),
                (&clone, Type::TEXT),
                (&owner, Type::TEXT),
            ],
        )
        .await
        .map_err(|e| sql_error(what, &e))?
        .ok_or_else(|| BackendError::Rejected {
            target: "PostgreSQL".into(),
            detail: format!("the base role {base} does not exist"),
        })?;
    let base_settings: String = column(&row, "base_settings")?;
    let clone_exists: bool = column(&row, "clone_exists")?;
    let clone_state = if clone_exists {
        Some(CloneState {
            superuser: column(&row, "clone_super")?,
            replication: column(&row, "clone_replication")?,
            bypassrls: column(&row, "clone_bypassrls")?,
            member_of_base: column(&row, "clone_member_of_base")?,
            extra_roles: column(&row, "clone_extra_roles")?,
            setting_scopes: column(&row, "clone_setting_scopes")?,
            owns_objects: column(&row, "clone_owns_objects")?,
        })
    } else {
        None
    };
    Ok(RoleState {
        base: Attributes {
            inherit: column(&row, "rolinherit")?,
            createrole: column(&row, "rolcreaterole")?,
            createdb: column(&row, "rolcreatedb")?,
            connection_limit: column(&row, "rolconnlimit")?,
            replication: column(&row, "rolreplication")?,
            bypassrls: column(&row, "rolbypassrls")?,
        },
        base_superuser: column(&row, "rolsuper")?,
        admin_is_superuser: column(&row, "admin_is_superuser")?,
        admin_users: column(&row, "admin_users")?,
        clone: clone_state,
        base_in_owner: column(&row, "base_in_owner")?,
        base_settings: serde_json::from_str(&base_settings).map_err(|e| {
            BackendError::Rejected {
                target: "PostgreSQL".into(),
                detail: format!("{what}: unexpected settings of the base role: {e}"),
            }
        })?,
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

impl RoleState {
    /// Refuses, before anything changes, a re-sync the application secret has no authority for:
    /// a clone that holds what its base lacks (or that neither function made), a pair that is the
    /// admin itself or a superuser (unless the admin side allows it), an owner role the base is not
    /// already a member of.
    pub(super) fn check(
        &self,
        base: &str,
        clone: &str,
        owner: Option<&str>,
        allowances: &AdminAllowances,
    ) -> Result<(), BackendError> {
        if let Some(existing) = &self.clone {
            self.check_clone(existing, base, clone)?;
        }
        let clone_super = self.clone.as_ref().is_some_and(|c| c.superuser);
        for (role, superuser) in [(base, self.base_superuser), (clone, clone_super)] {
            check_privileged(
                role,
                superuser,
                self.admin_users.iter().any(|a| a == role),
                allowances,
            )?;
        }
        match owner {
            Some(owner) if owner != base && !self.base_in_owner => Err(refused(
                "owner_role",
                &format!(
                    "{base} is not a member of {owner} (or it does not exist); the owner role is \
                     granted only to the clone, and only when the base user already holds it: \
                     GRANT it to {base} first if the application should have it"
                ),
            )),
            _ => Ok(()),
        }
    }

    fn check_clone(
        &self,
        existing: &CloneState,
        base: &str,
        clone: &str,
    ) -> Result<(), BackendError> {
        if !existing.member_of_base {
            return Err(refused(
                "username",
                &format!(
                    "the role {clone} exists but is not a member of {base}, so neither this \
                     function nor AWS's made it {base}'s alternate; it is left alone (rename it, or \
                     GRANT {base} TO {clone} to adopt it)"
                ),
            ));
        }
        let attributes = [
            ("SUPERUSER", existing.superuser, self.base_superuser),
            ("REPLICATION", existing.replication, self.base.replication),
            ("BYPASSRLS", existing.bypassrls, self.base.bypassrls),
        ];
        for (name, on_clone, on_base) in attributes {
            if on_clone && !on_base {
                return Err(refused(
                    "username",
                    &format!(
                        "the existing {clone} holds {name}, which {base} lacks; a clone never holds \
                         more than its base, and nothing was changed"
                    ),
                ));
            }
        }
        if !existing.extra_roles.is_empty() {
            return Err(refused(
                "username",
                &format!(
                    "the existing {clone} is a member of {}, which {base} is not; a clone never \
                     holds more than its base, and nothing was changed",
                    existing.extra_roles.join(", ")
                ),
            ));
        }
        Ok(())
    }
}

/// The admin's own user, or a superuser, is acted on through an application secret only when the
/// admin side names it.
pub(super) fn check_privileged(
    role: &str,
    superuser: bool,
    is_admin: bool,
    allowances: &AdminAllowances,
) -> Result<(), BackendError> {
    let what = match (is_admin, superuser) {
        (true, _) => "the admin's own user",
        (false, true) => "a superuser",
        (false, false) => return Ok(()),
    };
    if allowances.allows_privileged(role) {
        return Ok(());
    }
    Err(refused(
        "username",
        &format!(
            "{role} is {what}; an application secret rotates it only when the admin side allows \
             it: list it in `{PRIVILEGED_FIELD}` of the admin secret or in {PRIVILEGED_ENV} of the \
             function"
        ),
    ))
}

/// Whether `role` is a superuser or the admin session's own user, read inside the admin's
/// transaction (single user reset by the admin, emergency revocation). No row: no such role.
pub(super) async fn check_acted_on(
    tx: &Transaction<'_>,
    role: &str,
    allowances: &AdminAllowances,
) -> Result<(), BackendError> {
    let row = tx
        .query_typed_opt(
            "SELECT rolsuper, rolname IN (current_user, session_user) AS is_admin \
             FROM pg_catalog.pg_roles WHERE rolname = $1",
            &[(&role, Type::TEXT)],
        )
        .await
        .map_err(|e| sql_error("reading the role's state", &e))?
        .ok_or_else(|| BackendError::Rejected {
            target: "PostgreSQL".into(),
            detail: format!("the role {role} does not exist"),
        })?;
    check_privileged(
        role,
        column(&row, "rolsuper")?,
        column(&row, "is_admin")?,
        allowances,
    )
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::secret::SecretValue;

    pub fn state() -> RoleState {
        RoleState {
            base: Attributes {
                inherit: true,
                createrole: false,
                createdb: true,
                connection_limit: -1,
                replication: false,
                bypassrls: true,
            },
            base_superuser: false,
            admin_is_superuser: false,
            admin_users: vec!["admin".into(), "admin".into()],
            clone: Some(CloneState {
                member_of_base: true,
                ..CloneState::default()
            }),
            base_in_owner: true,
            base_settings: Vec::new(),
        }
    }

    fn allowing(privileged: &[&str]) -> AdminAllowances {
        let admin =
            serde_json::json!({"username": "admin", "password": "x", PRIVILEGED_FIELD: privileged});
        AdminAllowances::read(&SecretValue::parse(&admin.to_string()).unwrap()).unwrap()
    }

    fn refused_field(result: Result<(), BackendError>) -> String {
        match result {
            Err(BackendError::Refused { field, .. }) => field,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn a_plain_pair_passes() {
        let none = AdminAllowances::default();
        assert!(state().check("app", "app_clone", None, &none).is_ok());
        assert!(state()
            .check("app", "app_clone", Some("app"), &none)
            .is_ok());
        let fresh = RoleState {
            clone: None,
            ..state()
        };
        assert!(fresh.check("app", "app_clone", None, &none).is_ok());
    }

    #[test]
    fn the_admin_and_superusers_need_the_admin_sides_word() {
        let none = AdminAllowances::default();
        let admin_pair = RoleState {
            admin_users: vec!["admin".into(), "app".into()],
            ..state()
        };
        assert_eq!(
            refused_field(admin_pair.check("app", "app_clone", None, &none)),
            "username"
        );
        let superuser = RoleState {
            base_superuser: true,
            ..state()
        };
        let err = superuser
            .check("app", "app_clone", None, &none)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("superuser") && err.contains(PRIVILEGED_FIELD),
            "{err}"
        );
        assert!(superuser
            .check("app", "app_clone", None, &allowing(&["app"]))
            .is_ok());
        assert!(superuser
            .check("app", "app_clone", None, &allowing(&["other"]))
            .is_err());
    }

    #[test]
    fn a_clone_that_holds_more_than_its_base_is_left_alone() {
        let none = AdminAllowances::default();
        let everything = allowing(&["app", "app_clone"]);
        for clone in [
            CloneState {
                superuser: true,
                ..CloneState::default()
            },
            CloneState {
                replication: true,
                ..CloneState::default()
            },
            CloneState {
                extra_roles: vec!["pg_read_server_files".into()],
                ..CloneState::default()
            },
        ] {
            let state = RoleState {
                clone: Some(CloneState {
                    member_of_base: true,
                    ..clone
                }),
                ..state()
            };
            assert_eq!(
                refused_field(state.check("app", "app_clone", None, &none)),
                "username"
            );
            assert!(state.check("app", "app_clone", None, &everything).is_err());
        }
        // BYPASSRLS the base holds too is fine.
        let same = RoleState {
            clone: Some(CloneState {
                member_of_base: true,
                bypassrls: true,
                ..CloneState::default()
            }),
            ..state()
        };
        assert!(same.check("app", "app_clone", None, &none).is_ok());
        let stranger = RoleState {
            clone: Some(CloneState::default()),
            ..state()
        };
        assert_eq!(
            refused_field(stranger.check("app", "app_clone", None, &none)),
            "username"
        );
    }

    #[test]
    fn an_owner_role_the_base_lacks_is_refused() {
        let state = RoleState {
            base_in_owner: false,
            ..state()
        };
        assert_eq!(
            refused_field(state.check(
                "app",
                "app_clone",
                Some("pg_read_server_files"),
                &AdminAllowances::default()
            )),
            "owner_role"
        );
    }
}
