//! The trust boundary on the servers, with `masterarn`: the admin changes a user only on proof of
//! possession of its current credential (or a break-glass reset the admin side allows), and never
//! a user that holds ACL or admin permissions (unless the admin side lists it).

use super::admin::AdminSecret;
use super::config::RedisSecret;
use super::conn::{Conn, Connector};
use super::nodes::Operator;
use super::users;
use crate::backend::{BackendContext, BackendError};
use crate::trust::{BREAK_GLASS_ENV, BREAK_GLASS_FIELD, PRIVILEGED_ENV, PRIVILEGED_FIELD};

/// AWSCURRENT's user name and password log in on the application's endpoint (with the admin's
/// connection settings), and the user has passwords (a `nopass` user logs in with any). Else the
/// admin goes on only as a break-glass reset the admin side allows, and audited; never silently.
pub async fn prove_possession(
    ctx: &BackendContext<'_>,
    connector: &Connector,
    operator: &Operator,
    admin: &AdminSecret,
    current: &RedisSecret,
) -> Result<(), BackendError> {
    let (endpoint, user) = (&current.server.endpoint, &current.login.username);
    let mut conn = operator.login(connector, endpoint).await?;
    let passwordless = users::get_user(&mut conn, user)
        .await?
        .is_some_and(|u| u.has_flag("nopass"));
    if !passwordless && connector.accepts(endpoint, &current.login).await? {
        return Ok(());
    }
    if let Some(source) = admin.break_glass_source(user) {
        ctx.record_break_glass("redis", user, &source);
        return Ok(());
    }
    let problem = match passwordless {
        true => format!("user {user} is `nopass` on {endpoint}, so its password proves nothing"),
        false => format!("AWSCURRENT's password of user {user} does not log in on {endpoint}"),
    };
    Err(BackendError::Refused {
        field: "password".into(),
        rule: format!(
            "{problem}, and the admin changes a user only on proof of possession of its current \
             credential; if it is lost, allow a break-glass reset of this user: list it in \
             `{BREAK_GLASS_FIELD}` of the admin secret (or {BREAK_GLASS_ENV} in the function's \
             environment), then rotate again"
        ),
    })
}

/// On one node: none of `users` that exists holds ACL or admin permissions, unless the admin side
/// lists it as privileged.
pub async fn refuse_privileged(
    conn: &mut Conn,
    admin: &AdminSecret,
    users: &[&str],
) -> Result<(), BackendError> {
    for user in users {
        if admin.allowances.allows_privileged(user) || users::get_user(conn, user).await?.is_none()
        {
            continue;
        }
        if let Some(command) = users::admin_command_allowed(conn, user).await? {
            return Err(BackendError::Refused {
                field: "username".into(),
                rule: format!(
                    "user {user} holds ACL or admin permissions on {} (it may run {command}); the \
                     admin rotates such a user for an application secret only when the admin \
                     secret lists it in `{PRIVILEGED_FIELD}` (or {PRIVILEGED_ENV} in the \
                     function's environment)",
                    conn.endpoint
                ),
            });
        }
    }
    Ok(())
}
