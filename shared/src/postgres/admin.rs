//! The admin side: the secret named by `masterarn` and the function's environment. Where the admin
//! logs in, with which TLS settings, and what it allows beyond the rule all come from there, never
//! from the application secret, whose writer is weaker than the admin.

use super::config::{check_role_name, invalid, Endpoint, Login, PostgresSecret};
use super::connect::login;
use super::rds::{self, RdsEndpoints};
use crate::backend::{BackendContext, BackendError};
use crate::trust::{self, refused, AdminAllowances, BREAK_GLASS_ENV, BREAK_GLASS_FIELD};
use tokio_postgres::Client;

/// The admin's credential and server, checked against the application's endpoint. Built only by
/// [`AdminSide::for_application`], so no admin session opens before that check.
pub struct AdminSide {
    login: Login,
    endpoint: Endpoint,
    allowances: AdminAllowances,
    /// The environment's share of `allowances`, to say in the audit which side allowed a reset.
    env_allowances: AdminAllowances,
}

impl AdminSide {
    /// Reads the admin secret, finds the admin's own server from the admin side only (its `host`
    /// and `port`, else the RDS database its tags name), and refuses an application secret whose
    /// `host:port` is not that server. Opens no connection.
    pub async fn for_application(
        ctx: &BackendContext<'_>,
        rds_client: Option<&aws_sdk_rds::Client>,
        app: &PostgresSecret,
    ) -> Result<Self, BackendError> {
        let masterarn = app
            .masterarn
            .as_deref()
            .ok_or_else(|| invalid("masterarn", "is required here"))?;
        let master = ctx.read_secret(masterarn).await?;
        let related = |e: BackendError| BackendError::RelatedSecret {
            secret_id: masterarn.to_owned(),
            problem: e.to_string(),
        };
        let login = Login {
            username: master.required_str("username")?.to_owned(),
            password: master.required_secret("password")?,
        };
        check_role_name("username", &login.username).map_err(related)?;
        let allowances = AdminAllowances::read(&master)?;
        let env_allowances = AdminAllowances::from_env()?;
        let aliases = trust::admin_endpoint_aliases(&master)?;

        let (mut endpoint, rds_endpoints) = match master.optional_str("host")? {
            Some(host) => {
                let host = host.trim();
                if host.is_empty() || host.chars().any(|c| c.is_whitespace() || c.is_control()) {
                    return Err(related(invalid("host", "must be a host name or address")));
                }
                let endpoint =
                    Endpoint::parse_with_host(&master, host.to_owned(), None).map_err(related)?;
                (endpoint, None)
            }
            None => {
                let found = match rds_client {
                    Some(client) => {
                        let tags = ctx.related_secret_tags(masterarn).await?;
                        rds::endpoints_from_tags(client, &tags).await?
                    }
                    None => None,
                };
                let Some(found) = found else {
                    return Err(refused(
                        "host",
                        "the admin secret names no `host` and no RDS database (tag \
                         aws:rds:primaryDBInstanceArn or aws:rds:primaryDBClusterArn); the admin's \
                         server comes from the admin side only, never from the application secret",
                    ));
                };
                let (host, port) = found.writer.clone();
                let endpoint =
                    Endpoint::parse_with_host(&master, host, Some(port)).map_err(related)?;
                (endpoint, Some(found))
            }
        };
        // Same server, so the application's database (REASSIGN OWNED acts on the current one).
        endpoint.dbname = app.endpoint.dbname.clone();
        if master.get("connect_timeout").is_none() {
            endpoint.connect_timeout = app.endpoint.connect_timeout;
        }
        check_application_endpoint(&app.endpoint, &endpoint, &aliases, rds_endpoints.as_ref())?;
        Ok(Self {
            login,
            endpoint,
            allowances,
            env_allowances,
        })
    }

    /// The admin session, on the admin's own server with the admin secret's TLS settings.
    pub async fn connect(&self) -> Result<Client, BackendError> {
        login(&self.endpoint, &self.login).await
    }

    /// What the admin side allows beyond the rule: the admin secret's lists plus the environment's.
    pub fn allowances(&self) -> &AdminAllowances {
        &self.allowances
    }

    /// Which side lets the admin reset `user` without proof of possession: the function's
    /// environment variable or the admin secret. When neither does, the `Refused` error names both.
    pub fn break_glass(&self, user: &str) -> Result<&'static str, BackendError> {
        if self.env_allowances.allows_break_glass(user) {
            Ok(BREAK_GLASS_ENV)
        } else if self.allowances.allows_break_glass(user) {
            Ok("admin secret")
        } else {
            Err(refused(
                "password",
                &format!(
                    "AWSCURRENT's credential does not log in as {user}, so nothing proves this \
                     rotation may act on it, and the admin does not reset a user without that \
                     proof. Fix AWSCURRENT, or allow the reset explicitly: list {user} in \
                     `{BREAK_GLASS_FIELD}` of the admin secret, or in {BREAK_GLASS_ENV} of the function"
                ),
            ))
        }
    }
}

/// The application's `host:port` must be the admin's own server: the same host (any case) and
/// port, one of the admin secret's `endpoints`, or an endpoint of the admin's RDS database.
/// The refusal names the fields, never their values.
fn check_application_endpoint(
    app: &Endpoint,
    admin: &Endpoint,
    aliases: &[String],
    rds_endpoints: Option<&RdsEndpoints>,
) -> Result<(), BackendError> {
    let same = trust::is_admin_endpoint(&app.host, app.port, &admin.host, admin.port, aliases)
        || rds_endpoints.is_some_and(|e| e.contains(&app.host, app.port));
    if same {
        return Ok(());
    }
    let where_admin = "the admin secret's `host` and `port` (or the RDS database it belongs to), \
                       or one of the admin secret's `endpoints`";
    if app.host.trim().eq_ignore_ascii_case(admin.host.trim()) {
        Err(refused(
            "port",
            &format!(
                "the application secret's `port` differs from the admin secret's `port` and is \
                 not listed in its `endpoints`; the admin credential is only sent to {where_admin}"
            ),
        ))
    } else {
        Err(refused(
            "host",
            &format!(
                "the application secret's `host` and `port` are not the admin's server; the admin \
                 credential is only sent to {where_admin}"
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn endpoint(host: &str, port: u16) -> Endpoint {
        Endpoint {
            host: host.into(),
            port,
            dbname: "postgres".into(),
            tls: true,
            ca_bundle: None,
            connect_timeout: Duration::from_secs(5),
        }
    }

    #[test]
    fn the_application_must_use_the_admins_server_and_the_refusal_names_fields_only() {
        let admin = endpoint("db.internal", 5432);
        assert!(
            check_application_endpoint(&endpoint("DB.Internal", 5432), &admin, &[], None).is_ok()
        );
        let err = check_application_endpoint(&endpoint("evil.example", 5432), &admin, &[], None)
            .unwrap_err();
        assert!(matches!(&err, BackendError::Refused { field, .. } if field == "host"));
        let message = err.to_string();
        assert!(
            !message.contains("evil.example") && !message.contains("db.internal"),
            "{message}"
        );
        let err = check_application_endpoint(&endpoint("db.internal", 6432), &admin, &[], None)
            .unwrap_err();
        assert!(matches!(&err, BackendError::Refused { field, .. } if field == "port"));
        assert!(!err.to_string().contains("6432"));
        let aliases = vec!["proxy.internal:6432".to_owned()];
        assert!(check_application_endpoint(
            &endpoint("proxy.internal", 6432),
            &admin,
            &aliases,
            None
        )
        .is_ok());
        let rds = RdsEndpoints {
            writer: ("db.internal".into(), 5432),
            others: vec![("db-ro.internal".into(), 5432)],
        };
        assert!(check_application_endpoint(
            &endpoint("db-ro.internal", 5432),
            &admin,
            &[],
            Some(&rds)
        )
        .is_ok());
        assert!(check_application_endpoint(
            &endpoint("db-ro.internal", 5433),
            &admin,
            &[],
            Some(&rds)
        )
        .is_err());
    }
}
