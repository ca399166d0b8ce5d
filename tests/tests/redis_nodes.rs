//! Redis rotation across restarts and nodes: changes are persisted (aclfile or config file), and
//! reach every replica and cluster node, each of which testSecret checks.

use rotation::password::generate_password;
use rotation::protocol::{AWSCURRENT, AWSPREVIOUS};
use rotation::{RotationError, Step};
use secrecy::ExposeSecret;
use serde_json::json;
use std::time::{Duration, Instant};
use testkit::emulator::{run_step, run_step_ok};
use testkit::redis::scenario::{
    admin_secret_for, admin_secret_with, engine, user_secret, Credential,
};
use testkit::redis::RedisOptions;
use testkit::{Emulator, RedisServer};

fn password() -> String {
    generate_password(32).expose_secret().to_owned()
}

async fn works_everywhere(credential: &Credential, servers: &[&RedisServer]) -> bool {
    for server in servers {
        if !credential.works_on(server).await {
            return false;
        }
    }
    true
}

#[tokio::test]
async fn rotations_survive_a_restart_with_an_aclfile_and_with_users_in_the_config_file() {
    let (emulator, engine) = (Emulator::shared(), engine());
    for aclfile in [true, false] {
        let (app_pw, svc_pw) = (password(), password());
        let users = [
            format!("user app on >{app_pw} ~app:* +@all -@admin"),
            format!("user svc on >{svc_pw} ~svc:* &svc:* +@read (~other:* +set)"),
        ];
        let mut server = RedisServer::start_opts(RedisOptions {
            users: &users.iter().map(String::as_str).collect::<Vec<_>>(),
            aclfile,
            ..Default::default()
        })
        .expect("redis-server starts");
        let admin = admin_secret_for(&server).await;
        let single = user_secret(&server, "app", &app_pw, json!({"masterarn": admin})).await;
        let alternating = user_secret(
            &server,
            "svc",
            &svc_pw,
            json!({"masterarn": admin, "strategy": "alternating-users"}),
        )
        .await;
        for id in [&single, &alternating] {
            for _ in 0..2 {
                emulator.rotate(&engine, id).await.unwrap();
            }
        }
        let file = if aclfile {
            server.dir().join("users.acl")
        } else {
            server.config_path()
        };
        let saved = std::fs::read_to_string(&file).unwrap();
        assert!(
            saved.contains("user svc_clone "),
            "aclfile={aclfile}: the clone is saved"
        );

        server.restart().expect("restart");
        for id in [&single, &alternating] {
            for stage in [AWSCURRENT, AWSPREVIOUS] {
                let credential = Credential::at(id, stage).await.unwrap();
                assert!(
                    credential.works_on(&server).await,
                    "aclfile={aclfile}: {stage} of {} works after a restart",
                    credential.username
                );
            }
        }
        let (base, clone) = (
            server.acl_user("svc").await.unwrap(),
            server.acl_user("svc_clone").await.unwrap(),
        );
        assert!(
            base.permission_differences(&clone).is_empty(),
            "aclfile={aclfile}: clone restored"
        );
    }
}

#[tokio::test]
async fn a_primary_and_its_replica_both_get_the_change_and_test_secret_checks_both() {
    let (app_pw, ops_pw, list_pw) = (password(), password(), password());
    let users = [
        format!("user app on >{app_pw} ~* +@all -@admin"),
        format!("user ops on >{ops_pw} ~* +@all -@admin"),
        format!("user listed on >{list_pw} ~* +@all -@admin"),
    ];
    let users: Vec<&str> = users.iter().map(String::as_str).collect();
    let primary = RedisServer::start_opts(RedisOptions {
        users: &users,
        ..Default::default()
    })
    .unwrap();
    let replica = RedisServer::start_opts(RedisOptions {
        users: &users,
        replica_of: Some(primary.port),
        ..Default::default()
    })
    .unwrap();
    replica.wait_for_sync().await;
    let nodes = [&primary, &replica];
    let (emulator, engine) = (Emulator::shared(), engine());
    let admin = admin_secret_for(&primary).await;

    // Seeded at the primary: the replica is discovered from INFO replication.
    let id = user_secret(&primary, "app", &app_pw, json!({"masterarn": admin})).await;
    emulator.rotate(&engine, &id).await.unwrap();
    for stage in [AWSCURRENT, AWSPREVIOUS] {
        assert!(
            works_everywhere(&Credential::at(&id, stage).await.unwrap(), &nodes).await,
            "{stage}"
        );
    }

    // testSecret logs in on every node: a replica that lost the pending password fails it.
    let token = emulator.stage_rotation(&id).await;
    run_step_ok(&engine, Step::CreateSecret, &id, &token).await;
    run_step_ok(&engine, Step::SetSecret, &id, &token).await;
    let pending = Credential::at(&id, "AWSPENDING").await.unwrap();
    assert!(
        works_everywhere(&pending, &nodes).await,
        "setSecret reached both nodes"
    );
    let _: () = redis::cmd("ACL")
        .arg("SETUSER")
        .arg("app")
        .arg(pending.hash().remove_rule().as_str())
        .query_async(&mut replica.admin().await)
        .await
        .unwrap();
    let err = run_step(&engine, Step::TestSecret, &id, &token)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            RotationError::Backend {
                step: Step::TestSecret,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(err.kind(), "NotVerified", "{err}");
    assert!(
        err.to_string().contains(&format!(":{}", replica.port)),
        "names the replica: {err}"
    );
    // A retried setSecret repairs the replica; the rotation then completes.
    for step in [Step::SetSecret, Step::TestSecret, Step::FinishSecret] {
        run_step(&engine, step, &id, &token)
            .await
            .unwrap_or_else(|e| panic!("{step}: {e}"));
    }
    assert!(works_everywhere(&Credential::current(&id).await, &nodes).await);

    // Seeded at the replica (the admin secret names it): its primary is discovered through
    // master_host.
    let admin_at_replica = admin_secret_for(&replica).await;
    let extra = json!({"masterarn": admin_at_replica});
    let id = user_secret(&replica, "ops", &ops_pw, extra).await;
    emulator.rotate(&engine, &id).await.unwrap();
    assert!(
        works_everywhere(&Credential::current(&id).await, &nodes).await,
        "found from the replica"
    );

    // An explicit node list (the admin secret's) replaces discovery.
    let listed = json!([format!("127.0.0.1:{}", replica.port)]);
    let mut admin_fields = primary.endpoint_fields();
    admin_fields["nodes"] = listed.clone();
    let extra = json!({"masterarn": admin_secret_with(admin_fields).await, "nodes": listed});
    let id = user_secret(&primary, "listed", &list_pw, extra).await;
    emulator.rotate(&engine, &id).await.unwrap();
    assert!(
        works_everywhere(&Credential::current(&id).await, &nodes).await,
        "listed nodes"
    );
}

#[tokio::test]
async fn every_cluster_node_from_cluster_shards_gets_the_change() {
    let app_pw = password();
    let user = format!("user app on >{app_pw} ~* +@all -@admin");
    let options = RedisOptions {
        users: &[&user],
        extra: &[
            "cluster-enabled yes",
            "cluster-config-file nodes.conf",
            "cluster-node-timeout 5000",
        ],
        ..Default::default()
    };
    let first = RedisServer::start_opts(options).unwrap();
    let second = RedisServer::start_opts(options).unwrap();
    let mut admin_con = first.admin().await;
    let _: () = redis::cmd("CLUSTER")
        .arg("ADDSLOTSRANGE")
        .arg(0)
        .arg(16383)
        .query_async(&mut admin_con)
        .await
        .unwrap();
    let _: () = redis::cmd("CLUSTER")
        .arg("MEET")
        .arg("127.0.0.1")
        .arg(first.port)
        .query_async(&mut second.admin().await)
        .await
        .unwrap();
    // The second node has no slot and no replication link: only CLUSTER SHARDS names it.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let nodes: String = redis::cmd("CLUSTER")
            .arg("NODES")
            .query_async(&mut admin_con)
            .await
            .unwrap();
        if nodes.contains(&format!(":{}@", second.port)) && !nodes.contains("handshake") {
            break;
        }
        assert!(Instant::now() < deadline, "the cluster never formed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (emulator, engine) = (Emulator::shared(), engine());
    let id = user_secret(
        &first,
        "app",
        &app_pw,
        json!({"masterarn": admin_secret_for(&first).await}),
    )
    .await;
    emulator.rotate(&engine, &id).await.unwrap();
    let current = Credential::current(&id).await;
    assert!(
        works_everywhere(&current, &[&first, &second]).await,
        "both cluster nodes"
    );
    assert!(second
        .acl_user("app")
        .await
        .unwrap()
        .has_password(&current.hash()));
}
