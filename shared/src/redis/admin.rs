//! The admin secret named by `masterarn`: who runs the ACL commands, on which servers, and what the
//! admin side allows. An application secret never decides where the admin's credential goes: its
//! endpoint and nodes must be ones the admin secret names, checked before any connection.

use super::config::{check_username, Endpoint, Login, RedisSecret, ServerSettings};
use super::conn::Connector;
use crate::backend::{BackendContext, BackendError};
use crate::secret::SecretValue;
use crate::trust::{self, refused, AdminAllowances, BREAK_GLASS_ENV, BREAK_GLASS_FIELD};
use std::time::Duration;

/// The admin secret, parsed: its login, its server settings, and its allowances.
#[derive(Debug)]
pub struct AdminSecret {
    arn: String,
    /// The admin's user (`default` unless the secret names one) and password.
    pub login: Login,
    /// The admin's own server settings; the only place its credential may go.
    pub server: ServerSettings,
    /// Further names of the admin's server (`endpoints`), lowercase `host` or `host:port`.
    aliases: Vec<String>,
    /// The admin secret's allowances plus the function environment's.
    pub allowances: AdminAllowances,
}

impl AdminSecret {
    /// Reads the admin secret `arn` (its AWSCURRENT) and parses it as [`AdminSecret::parse`] does.
    pub async fn read(ctx: &BackendContext<'_>, arn: &str) -> Result<Self, BackendError> {
        Self::parse(arn, &ctx.read_secret(arn).await?)
    }

    /// `username` (default `default`) and `password`, and the same `host`/`port`/`tls`/`ca_bundle`/
    /// `tls_client_*`/`nodes`/`connect_timeout` fields as an application secret; `host` is required.
    pub fn parse(arn: &str, value: &SecretValue) -> Result<Self, BackendError> {
        if matches!(value.get("host"), None | Some(serde_json::Value::Null)) {
            return Err(refused(
                "host",
                "the admin secret named by `masterarn` names no server, and the admin's \
                 credential is only sent to servers the admin secret names: add `host`, `port` \
                 and `tls` (with `ca_bundle`, and `nodes` or `endpoints` where needed) to the \
                 admin secret",
            ));
        }
        let related = |e: BackendError| match e {
            e @ BackendError::Refused { .. } => e,
            other => BackendError::RelatedSecret {
                secret_id: arn.to_owned(),
                problem: other.to_string(),
            },
        };
        let username = value
            .optional_str("username")
            .map_err(|e| related(e.into()))?
            .unwrap_or("default");
        check_username("username", username).map_err(related)?;
        let password = value
            .required_secret("password")
            .map_err(|e| related(e.into()))?;
        Ok(Self {
            arn: arn.to_owned(),
            login: Login {
                username: username.to_owned(),
                password,
            },
            server: ServerSettings::parse(value).map_err(related)?,
            aliases: trust::admin_endpoint_aliases(value)?,
            allowances: AdminAllowances::read(value)?,
        })
    }

    /// Connections with the admin's TLS settings (the application's timeout when the admin
    /// secret sets none). A TLS field error names the admin secret.
    pub fn connector(&self, app_timeout: Option<Duration>) -> Result<Connector, BackendError> {
        Connector::new(&self.server, app_timeout).map_err(|e| match e {
            BackendError::InvalidField { field, problem } => BackendError::InvalidField {
                field,
                problem: format!("{problem} (in the admin secret named by `masterarn`)"),
            },
            other => other,
        })
    }

    /// Whether `endpoint` is a server of the admin's: its own, one of its `nodes`, or one of its
    /// `endpoints`.
    pub fn names(&self, endpoint: &Endpoint) -> bool {
        let own = &self.server.endpoint;
        let same = |node: &Endpoint| {
            node.port == endpoint.port && node.host.eq_ignore_ascii_case(&endpoint.host)
        };
        trust::is_admin_endpoint(
            &endpoint.host,
            endpoint.port,
            &own.host,
            own.port,
            &self.aliases,
        ) || self.server.nodes.iter().flatten().any(same)
    }

    /// What the application secret may ask of this admin, decided without any connection: its
    /// endpoint and nodes are the admin's, and neither user of the pair is the admin's own.
    pub fn check_application(&self, app: &RedisSecret) -> Result<(), BackendError> {
        if !self.names(&app.server.endpoint) {
            return Err(refused(
                "host",
                "`host`/`port` of the application secret is not a server of the admin secret \
                 (its `host`/`port`, one of its `nodes` or one of its `endpoints`); the admin's \
                 credential is only sent to servers the admin secret names: add this server to \
                 the admin secret's `nodes` or `endpoints` if it is one",
            ));
        }
        if !app.server.nodes.iter().flatten().all(|n| self.names(n)) {
            return Err(refused(
                "nodes",
                "an entry of the application secret's `nodes` is not a server of the admin \
                 secret (its `host`/`port`, `nodes` or `endpoints`); list the deployment's nodes \
                 in the admin secret's `nodes`",
            ));
        }
        if let Some(user) = app.pair().iter().find(|u| **u == self.login.username) {
            return Err(BackendError::Refused {
                field: "username".into(),
                rule: format!(
                    "user {user} is the admin's own user (of the secret named by `masterarn`); \
                     an application secret never rotates the admin"
                ),
            });
        }
        Ok(())
    }

    /// What allows a break-glass reset of `user` (for the audit event), `None` when nothing does.
    pub fn break_glass_source(&self, user: &str) -> Option<String> {
        if !self.allowances.allows_break_glass(user) {
            return None;
        }
        let by_env = AdminAllowances::from_env().is_ok_and(|a| a.allows_break_glass(user));
        Some(match by_env {
            true => BREAK_GLASS_ENV.to_owned(),
            false => format!("{BREAK_GLASS_FIELD} of {}", self.arn),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn value(v: Value) -> SecretValue {
        SecretValue::parse(&v.to_string()).unwrap()
    }

    fn admin(v: Value) -> Result<AdminSecret, BackendError> {
        AdminSecret::parse("arn:admin", &value(v))
    }

    fn app(v: Value) -> RedisSecret {
        RedisSecret::parse(&value(v)).unwrap()
    }

    #[test]
    fn an_admin_secret_must_name_its_server() {
        let err = admin(json!({"username":"admin","password":"hunter2"})).unwrap_err();
        assert_eq!(err.kind(), "Refused");
        assert!(err.to_string().contains("add `host`, `port`"), "{err}");
        let err = admin(json!({"password":"hunter2","host":"h","port":0})).unwrap_err();
        assert_eq!(err.kind(), "RelatedSecret");
        assert!(!err.to_string().contains("hunter2"), "{err}");
        let ok = admin(json!({"password":"p","host":"R.internal","tls":false})).unwrap();
        assert_eq!(ok.login.username, "default");
        assert!(ok.server.tls.is_none());
    }

    #[test]
    fn the_application_endpoint_and_nodes_must_be_the_admins() {
        let a = admin(
            json!({"username":"admin","password":"p","host":"r.internal","port":6380,
            "nodes":["replica.internal:6380"],"endpoints":["alias.internal"]}),
        )
        .unwrap();
        let ok = |v: Value| a.check_application(&app(v)).is_ok();
        let user = |host: &str, port: u16| json!({"host": host, "port": port, "username": "app", "password": "x"});
        assert!(ok(user("R.INTERNAL", 6380)));
        assert!(ok(user("replica.internal", 6380)));
        assert!(ok(user("alias.internal", 1)));
        assert!(!ok(user("r.internal", 6379)));
        assert!(!ok(user("evil.internal", 6380)));
        let mut listed = user("r.internal", 6380);
        listed["nodes"] = json!(["replica.internal:6380"]);
        assert!(ok(listed.clone()));
        listed["nodes"] = json!(["replica.internal:6380", "evil.internal:6380"]);
        let err = a.check_application(&app(listed)).unwrap_err();
        assert!(matches!(err, BackendError::Refused { ref field, .. } if field == "nodes"));
        assert!(!err.to_string().contains("evil"), "{err}");
    }

    #[test]
    fn neither_user_of_the_pair_may_be_the_admin() {
        let a = admin(json!({"username":"admin","password":"p","host":"h","tls":false})).unwrap();
        let secret = |name: &str, strategy: &str| {
            app(json!({"host":"h","username":name,"password":"x","strategy":strategy}))
        };
        for (name, strategy) in [
            ("admin", "single"),
            ("admin", "alternating"),
            ("admin_clone", "alternating"),
        ] {
            let err = a.check_application(&secret(name, strategy)).unwrap_err();
            assert!(matches!(err, BackendError::Refused { ref field, .. } if field == "username"));
        }
        assert!(a
            .check_application(&secret("admin_clone", "single"))
            .is_ok());
        assert!(a.check_application(&secret("app", "alternating")).is_ok());
    }
}
