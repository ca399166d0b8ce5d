//! What a rotation changes on one node: read `ACL GETUSER`, then one atomic `ACL SETUSER` with
//! only the rules still needed, so that every function here is safe to repeat.

use super::acl::{clone_rules, password_rules, AclUser, PasswordHash, Rule};
use super::conn::Conn;
use crate::backend::BackendError;
use redis::Value;

/// The user as the node knows it, `None` when it does not exist.
pub async fn get_user(conn: &mut Conn, user: &str) -> Result<Option<AclUser>, BackendError> {
    let reply: Value = conn
        .run(redis::cmd("ACL").arg("GETUSER").arg(user), "ACL GETUSER")
        .await?;
    AclUser::parse(&reply).map_err(|e| BackendError::Rejected {
        target: conn.endpoint.to_string(),
        detail: e.to_string(),
    })
}

/// A user that must exist, and must have passwords to rotate (`nopass` would make any password
/// work: giving it one would cut off every client that sends another).
pub async fn existing_user(conn: &mut Conn, user: &str) -> Result<AclUser, BackendError> {
    let target = conn.endpoint.to_string();
    let found = get_user(conn, user)
        .await?
        .ok_or_else(|| BackendError::Rejected {
            target: target.clone(),
            detail: format!(
            "user {user} does not exist on this node (ACL users are not replicated: create it on \
             every node first)"
        ),
        })?;
    if found.has_flag("nopass") {
        return Err(BackendError::Rejected {
            target,
            detail: format!(
                "user {user} is `nopass`; refusing to give it a password (remove nopass first)"
            ),
        });
    }
    Ok(found)
}

async fn set_user(conn: &mut Conn, user: &str, rules: &[Rule]) -> Result<(), BackendError> {
    let mut cmd = redis::cmd("ACL");
    cmd.arg("SETUSER").arg(user);
    for rule in rules {
        cmd.arg(rule.as_str());
    }
    conn.run::<()>(&cmd, &format!("ACL SETUSER {user}")).await
}

/// Leaves `user` with the passwords `keep` (those it has) and `add`. An `off` user is switched
/// on when `switch_on` (the alternating user about to become current), else refused (an operator
/// switched it off). Returns whether anything had to change.
pub async fn hold_passwords(
    conn: &mut Conn,
    user: &str,
    keep: &[&PasswordHash],
    add: &PasswordHash,
    switch_on: bool,
) -> Result<bool, BackendError> {
    let existing = existing_user(conn, user).await?;
    if existing.has_flag("off") && !switch_on {
        return Err(BackendError::Rejected {
            target: conn.endpoint.to_string(),
            detail: format!(
                "user {user} is switched off; refusing to rotate it (switch it on first)"
            ),
        });
    }
    if !keep.iter().all(|h| existing.has_password(h)) {
        tracing::warn!(
            user,
            node = %conn.endpoint,
            "the current password is not set for this user on this node; adding the pending one"
        );
    }
    let mut rules = password_rules(Some(&existing), keep, add);
    if existing.has_flag("off") {
        rules.push(Rule::new("on"));
    }
    if rules.is_empty() {
        return Ok(false);
    }
    set_user(conn, user, &rules).await?;
    Ok(true)
}

/// Makes `clone` a copy of `base` (flags, commands, keys, channels, selectors) whose only
/// password is `password`, then checks the copy on the node.
pub async fn copy_user(
    conn: &mut Conn,
    base: &str,
    clone: &str,
    password: &PasswordHash,
) -> Result<(), BackendError> {
    let source = existing_user(conn, base).await?;
    let existing = get_user(conn, clone).await?;
    let mut rules = password_rules(existing.as_ref(), &[], password);
    rules.extend(clone_rules(&source));
    set_user(conn, clone, &rules).await?;
    let differences = clone_differences(conn, base, clone).await?;
    if !differences.is_empty() {
        return Err(BackendError::Rejected {
            target: conn.endpoint.to_string(),
            detail: format!(
                "after copying, user {clone} still differs from {base} in: {} (a key or channel \
                 pattern with a space cannot be copied)",
                differences.join(", ")
            ),
        });
    }
    Ok(())
}

/// The parts of the permissions in which `clone` differs from `base` (empty: a true clone).
pub async fn clone_differences(
    conn: &mut Conn,
    base: &str,
    clone: &str,
) -> Result<Vec<&'static str>, BackendError> {
    let source = existing_user(conn, base).await?;
    Ok(match get_user(conn, clone).await? {
        Some(copy) => source.permission_differences(&copy),
        None => vec!["existence"],
    })
}

/// Emergency, single user: removes every password but `keep`. Refuses when `keep` is not set,
/// which would leave the user with no working password.
pub async fn revoke_all_but(
    conn: &mut Conn,
    user: &str,
    keep: &PasswordHash,
) -> Result<bool, BackendError> {
    let existing = existing_user(conn, user).await?;
    if !existing.has_password(keep) {
        return Err(BackendError::Rejected {
            target: conn.endpoint.to_string(),
            detail: format!("the new password of user {user} is not set here; revoking nothing"),
        });
    }
    let rules = password_rules(Some(&existing), &[], keep);
    if rules.is_empty() {
        return Ok(false);
    }
    set_user(conn, user, &rules).await?;
    Ok(true)
}

/// Emergency, alternating users: no new login for `user`. Returns whether it changed.
pub async fn switch_off(conn: &mut Conn, user: &str) -> Result<bool, BackendError> {
    match get_user(conn, user).await? {
        Some(existing) if !existing.has_flag("off") => {
            set_user(conn, user, &[Rule::new("off")]).await?;
            Ok(true)
        }
        _ => Ok(false),
    }
}

/// Emergency: closes the sessions `user` already has (not our own), so a revoked password does
/// not live on in an open connection.
pub async fn kill_clients(conn: &mut Conn, user: &str) -> Result<i64, BackendError> {
    if get_user(conn, user).await?.is_none() {
        return Ok(0);
    }
    conn.run(
        redis::cmd("CLIENT")
            .arg("KILL")
            .arg("USER")
            .arg(user)
            .arg("SKIPME")
            .arg("yes"),
        "CLIENT KILL USER",
    )
    .await
}

/// Commands whose permission makes a user privileged, as `ACL DRYRUN` arguments (it checks
/// permissions only: nothing is run). No `LOAD` argument: the wire must never carry `ACL LOAD`.
const ADMIN_COMMANDS: [(&str, &[&str]); 4] = [
    ("ACL SETUSER", &["ACL", "SETUSER", "x"]),
    ("ACL DELUSER", &["ACL", "DELUSER", "x"]),
    ("CONFIG SET", &["CONFIG", "SET", "maxmemory", "0"]),
    ("MODULE LOADEX", &["MODULE", "LOADEX", "x"]),
];

/// The first ACL or admin command `user` may run, asked of the server itself (`ACL DRYRUN`,
/// Redis 7.0+, selectors included); `None` when it may run none. Fails closed: a server that
/// cannot answer is an error, never a "no".
pub async fn admin_command_allowed(
    conn: &mut Conn,
    user: &str,
) -> Result<Option<&'static str>, BackendError> {
    for (name, args) in ADMIN_COMMANDS {
        let mut cmd = redis::cmd("ACL");
        cmd.arg("DRYRUN").arg(user).arg(args);
        let reply: Value = conn.run(&cmd, "ACL DRYRUN").await.map_err(|e| match e {
            BackendError::Rejected { target, detail } => BackendError::Rejected {
                target,
                detail: format!(
                    "{detail}; cannot tell whether user {user} holds ACL or admin \
                         permissions (the admin needs `+acl|dryrun`, Redis 7.0+)"
                ),
            },
            other => other,
        })?;
        match reply {
            Value::Okay => return Ok(Some(name)),
            Value::SimpleString(s) if s == "OK" => return Ok(Some(name)),
            // Denied: the reply says why, naming the command.
            Value::BulkString(_) | Value::VerbatimString { .. } => {}
            _ => {
                return Err(BackendError::Rejected {
                    target: conn.endpoint.to_string(),
                    detail: "ACL DRYRUN: unexpected reply".into(),
                })
            }
        }
    }
    Ok(None)
}
