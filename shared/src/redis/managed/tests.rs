use super::*;

fn value(raw: &str) -> SecretValue {
    SecretValue::parse(raw).unwrap()
}

const EC_USER: &str = "arn:aws:elasticache:us-east-1:123456789012:user:app-user";
const MDB_USER: &str = "arn:aws:memorydb:us-east-1:123456789012:user/app";
const GROUP: &str = "arn:aws:elasticache:us-east-1:123456789012:replicationgroup:cache";

#[test]
fn the_provider_comes_from_the_arn_field_or_an_agreeing_provider_field() {
    let kind = |raw: &str| match provider_of(&value(raw)).unwrap() {
        Provider::SelfManaged => None,
        Provider::Managed(arn) => Some(arn.kind),
    };
    assert_eq!(kind(r#"{"host":"h","username":"u","password":"p"}"#), None);
    assert_eq!(
        kind(&format!(
            r#"{{"user_arn":"{EC_USER}","username":"u","password":"p"}}"#
        )),
        Some(ManagedKind::ElastiCacheUser)
    );
    assert_eq!(
        kind(&format!(
            r#"{{"user_arn":"{MDB_USER}","provider":"memorydb"}}"#
        )),
        Some(ManagedKind::MemoryDbUser)
    );
    assert_eq!(
        kind(&format!(r#"{{"replication_group_arn":"{GROUP}"}}"#)),
        Some(ManagedKind::AuthToken)
    );
    assert_eq!(kind(r#"{"provider":"self-managed"}"#), None);
    for bad in [
        format!(r#"{{"user_arn":"{EC_USER}","provider":"memorydb"}}"#),
        format!(r#"{{"user_arn":"{EC_USER}","provider":"self-managed"}}"#),
        format!(r#"{{"user_arn":"{GROUP}"}}"#),
        format!(r#"{{"replication_group_arn":"{EC_USER}"}}"#),
        format!(r#"{{"user_arn":"{EC_USER}","replication_group_arn":"{GROUP}"}}"#),
        r#"{"provider":"elasticache"}"#.to_owned(),
        r#"{"provider":"azure"}"#.to_owned(),
        r#"{"user_arn":7}"#.to_owned(),
    ] {
        let err = provider_of(&value(&bad)).unwrap_err();
        assert_eq!(err.kind(), "InvalidSecret", "{bad}: {err}");
    }
}

#[test]
fn aws_elasticache_format_parses_and_our_fields_are_checked() {
    let aws = value(&format!(
        r#"{{"user_arn":"{EC_USER}","username":"app","password":"p4ssw0rd-long-enough"}}"#
    ));
    let secret = ManagedSecret::parse_managed(&aws).unwrap();
    assert_eq!(secret.login.username, "app");
    assert!(secret.server.is_none());
    assert!(!format!("{secret:?}").contains("p4ssw0rd"));

    let with_endpoint = value(&format!(
        r#"{{"user_arn":"{EC_USER}","username":"app","password":"p","host":"cache.example","port":6380}}"#
    ));
    let server = ManagedSecret::parse_managed(&with_endpoint)
        .unwrap()
        .server
        .unwrap();
    assert_eq!(
        (server.endpoint.host.as_str(), server.endpoint.port),
        ("cache.example", 6380)
    );

    let token = value(&format!(
        r#"{{"replication_group_arn":"{GROUP}","password":"t","host":"h"}}"#
    ));
    assert_eq!(
        ManagedSecret::parse_managed(&token).unwrap().login.username,
        "default"
    );

    for (field, bad) in [
        (
            "masterarn",
            format!(
                r#"{{"user_arn":"{EC_USER}","username":"a","password":"p","masterarn":"arn:x"}}"#
            ),
        ),
        (
            "strategy",
            format!(
                r#"{{"user_arn":"{EC_USER}","username":"a","password":"p","strategy":"alternating"}}"#
            ),
        ),
        (
            "tls",
            format!(
                r#"{{"user_arn":"{EC_USER}","username":"a","password":"p","host":"h","tls":false}}"#
            ),
        ),
        (
            "nodes",
            format!(
                r#"{{"user_arn":"{EC_USER}","username":"a","password":"p","host":"h","nodes":["h:1"]}}"#
            ),
        ),
        (
            "host",
            format!(r#"{{"replication_group_arn":"{GROUP}","password":"t"}}"#),
        ),
        (
            "username",
            format!(
                r#"{{"replication_group_arn":"{GROUP}","username":"app","password":"t","host":"h"}}"#
            ),
        ),
        (
            "username",
            format!(r#"{{"user_arn":"{EC_USER}","username":"a b","password":"p"}}"#),
        ),
        (
            "username",
            format!(r#"{{"user_arn":"{EC_USER}","password":"p"}}"#),
        ),
        (
            "password",
            format!(r#"{{"user_arn":"{EC_USER}","username":"a","password":""}}"#),
        ),
        (
            "engine",
            format!(
                r#"{{"user_arn":"{EC_USER}","username":"a","password":"p","engine":"postgres"}}"#
            ),
        ),
    ] {
        let err = ManagedSecret::parse_managed(&value(&bad)).unwrap_err();
        assert!(err.to_string().contains(field), "{field}: {err}");
    }
}

#[test]
fn the_environment_must_list_the_arn_and_the_endpoint() {
    let secret = |extra: &str| {
        ManagedSecret::parse_managed(&value(&format!(
            r#"{{"user_arn":"{EC_USER}","username":"app","password":"p"{extra}}}"#
        )))
        .unwrap()
    };
    let allowed = Allowed::new(
        &format!(" {MDB_USER} , {EC_USER}"),
        "cache.example,other:6380",
    );
    allowed.check(&secret("")).unwrap();
    allowed
        .check(&secret(r#","host":"Cache.Example","port":6390"#))
        .unwrap();
    allowed
        .check(&secret(r#","host":"other","port":6380"#))
        .unwrap();
    for refused_endpoint in [r#","host":"other""#, r#","host":"evil.example""#] {
        let err = allowed.check(&secret(refused_endpoint)).unwrap_err();
        assert_eq!(
            (err.kind(), err.to_string().contains("`host`")),
            ("Refused", true),
            "{err}"
        );
    }
    for env in [
        "",
        "arn:aws:elasticache:us-east-1:123456789012:user:app-user2",
        "*",
    ] {
        let err = Allowed::new(env, "").check(&secret("")).unwrap_err();
        assert_eq!(err.kind(), "Refused", "{err}");
        assert!(
            err.to_string().contains("ROTATION_MANAGED_REDIS_ARNS"),
            "{err}"
        );
    }
}

#[test]
fn a_pending_value_is_the_current_one_with_a_new_password() {
    let current = value(&format!(
        r#"{{"user_arn":"{EC_USER}","username":"app","password":"old-password-0000"}}"#
    ));
    let pending = build_pending(&current).unwrap();
    let new = pending.required_str("password").unwrap();
    assert_eq!(new.len(), 32);
    assert!(new.chars().all(|c| c.is_ascii_alphanumeric()));
    assert_ne!(new, "old-password-0000");
    trust::check_only_credential_changed(&current, &pending).unwrap();
    assert!(build_pending(&value(r#"{"host":"h","username":"u","password":"p"}"#)).is_err());
}
