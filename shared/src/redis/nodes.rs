//! Which servers get the change, how we log in to them, and how a change survives a restart.
//! ACL changes are not replicated: every primary, replica and cluster node needs its own.

use super::config::{Endpoint, Login};
use super::conn::{Conn, Connector};
use crate::backend::BackendError;
use redis::Value;
use std::collections::{HashSet, VecDeque};

/// More nodes than this is a discovery gone wrong, not a deployment.
const MAX_NODES: usize = 500;

/// Who runs the ACL commands: the admin of `masterarn`, else the user itself, trying each of its
/// known passwords in turn.
pub struct Operator {
    logins: Vec<Login>,
}

impl Operator {
    /// The logins to try, most likely first; the admin's alone when there is one.
    pub fn new(logins: Vec<Login>) -> Self {
        Self { logins }
    }

    /// A session on `node` as the first login it accepts; refused when it accepts none. Any
    /// failure other than a wrong password ends the attempt.
    pub async fn login(
        &self,
        connector: &Connector,
        node: &Endpoint,
    ) -> Result<Conn, BackendError> {
        for login in &self.logins {
            if let Some(conn) = connector.try_login(node, login).await? {
                return Ok(conn);
            }
        }
        Err(BackendError::LoginRefused {
            target: node.to_string(),
            user: self
                .logins
                .first()
                .map(|l| l.username.clone())
                .unwrap_or_default(),
            detail: "no known password of this user logs in".into(),
        })
    }
}

/// The seed plus the explicit `nodes`, or the seed and every node reachable from it through
/// replication links (`INFO replication`, both directions) and `CLUSTER SHARDS`, each server once.
pub async fn discover(
    connector: &Connector,
    operator: &Operator,
    seed: &Endpoint,
    explicit: Option<&[Endpoint]>,
) -> Result<Vec<Endpoint>, BackendError> {
    if let Some(listed) = explicit {
        let mut nodes = vec![seed.clone()];
        for node in listed {
            if !nodes.contains(node) {
                nodes.push(node.clone());
            }
        }
        return Ok(nodes);
    }
    let mut queue = VecDeque::from([seed.clone()]);
    let (mut visited, mut servers, mut nodes) = (HashSet::new(), HashSet::new(), vec![]);
    while let Some(node) = queue.pop_front() {
        if !visited.insert(node.clone()) {
            continue;
        }
        if visited.len() > MAX_NODES {
            return Err(BackendError::Rejected {
                target: seed.to_string(),
                detail: format!(
                    "discovery found more than {MAX_NODES} nodes; list them in `nodes`"
                ),
            });
        }
        let mut conn = operator.login(connector, &node).await?;
        // The default sections hold server, replication and cluster (INFO with several section
        // names needs Redis 7).
        let info: String = conn.run(&redis::cmd("INFO"), "INFO").await?;
        let facts = InfoFacts::parse(&info);
        // The same server reached under another name (a replica announces its master's IP).
        if let Some(run_id) = facts.run_id {
            if !servers.insert(run_id) {
                continue;
            }
        }
        nodes.push(node);
        queue.extend(facts.linked);
        if facts.cluster_enabled {
            let shards: Value = conn
                .run(redis::cmd("CLUSTER").arg("SHARDS"), "CLUSTER SHARDS")
                .await?;
            queue.extend(cluster_nodes(&shards, connector.uses_tls()));
        }
    }
    Ok(nodes)
}

/// Writes the node's users to disk: `ACL SAVE` with an aclfile, else `CONFIG REWRITE`.
pub async fn persist(conn: &mut Conn) -> Result<(), BackendError> {
    let reply: Vec<String> = conn
        .run(
            redis::cmd("CONFIG").arg("GET").arg("aclfile"),
            "CONFIG GET aclfile",
        )
        .await?;
    let uses_aclfile = reply.get(1).is_some_and(|f| !f.is_empty());
    let (cmd, what) = match uses_aclfile {
        true => (redis::cmd("ACL").arg("SAVE").clone(), "ACL SAVE"),
        false => (
            redis::cmd("CONFIG").arg("REWRITE").clone(),
            "CONFIG REWRITE",
        ),
    };
    conn.run::<()>(&cmd, what).await.map_err(|e| match e {
        BackendError::Rejected { target, detail } => BackendError::Rejected {
            target,
            detail: format!(
                "{detail}; the change is live but would not survive a restart (a server without \
                 a config file cannot persist users: give it one, or an aclfile)"
            ),
        },
        other => other,
    })
}

/// What `INFO` says about a node.
#[derive(Debug, Default, PartialEq)]
struct InfoFacts {
    run_id: Option<String>,
    /// Its master (when a replica) and its replicas.
    linked: Vec<Endpoint>,
    cluster_enabled: bool,
}

impl InfoFacts {
    fn parse(info: &str) -> Self {
        let mut facts = InfoFacts::default();
        let (mut master_host, mut master_port) = (None, None);
        for line in info.lines().map(str::trim) {
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            match key {
                "run_id" => facts.run_id = Some(value.to_owned()),
                "cluster_enabled" => facts.cluster_enabled = value == "1",
                "master_host" => master_host = Some(value.to_owned()),
                "master_port" => master_port = value.parse().ok(),
                k if k.starts_with("slave") && k[5..].bytes().all(|b| b.is_ascii_digit()) => {
                    let field = |name: &str| {
                        value
                            .split(',')
                            .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
                    };
                    if let (Some(host), Some(Ok(port))) =
                        (field("ip"), field("port").map(str::parse))
                    {
                        facts.linked.push(Endpoint {
                            host: host.to_owned(),
                            port,
                        });
                    }
                }
                _ => {}
            }
        }
        if let (Some(host), Some(port)) = (master_host, master_port) {
            facts.linked.insert(0, Endpoint { host, port });
        }
        facts
    }
}

/// Every node of a `CLUSTER SHARDS` reply, at its announced endpoint (its IP when the endpoint
/// is unknown), on the TLS port when we speak TLS.
fn cluster_nodes(shards: &Value, tls: bool) -> Vec<Endpoint> {
    let mut out = vec![];
    for shard in list(shards) {
        for node in fields(shard)
            .into_iter()
            .filter(|(k, _)| k == "nodes")
            .flat_map(|(_, v)| list(v))
        {
            let node = fields(node);
            let text = |name: &str| {
                node.iter()
                    .find(|(k, _)| k == name)
                    .and_then(|(_, v)| as_text(v))
            };
            let int = |name: &str| {
                node.iter()
                    .find(|(k, _)| k == name)
                    .and_then(|(_, v)| as_port(v))
            };
            let host = text("endpoint")
                .filter(|h| !h.is_empty() && h != "?")
                .or_else(|| text("ip"));
            let port = if tls { int("tls-port") } else { int("port") };
            if let (Some(host), Some(port)) = (host, port) {
                out.push(Endpoint { host, port });
            }
        }
    }
    out
}

fn list(value: &Value) -> &[Value] {
    match value {
        Value::Array(items) | Value::Set(items) => items,
        _ => &[],
    }
}

fn fields(value: &Value) -> Vec<(String, &Value)> {
    match value {
        Value::Array(items) => items
            .chunks(2)
            .filter_map(|kv| Some((as_text(&kv[0])?, kv.get(1)?)))
            .collect(),
        Value::Map(entries) => entries
            .iter()
            .filter_map(|(k, v)| Some((as_text(k)?, v)))
            .collect(),
        _ => vec![],
    }
}

fn as_text(value: &Value) -> Option<String> {
    match value {
        Value::BulkString(bytes) => String::from_utf8(bytes.clone()).ok(),
        Value::SimpleString(s) => Some(s.clone()),
        _ => None,
    }
}

fn as_port(value: &Value) -> Option<u16> {
    match value {
        Value::Int(n) => u16::try_from(*n).ok().filter(|p| *p > 0),
        other => as_text(other)?.parse().ok().filter(|p| *p > 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(host: &str, port: u16) -> Endpoint {
        Endpoint {
            host: host.into(),
            port,
        }
    }

    #[test]
    fn info_of_a_primary_lists_its_replicas() {
        let info = "# Server\r\nredis_version:7.0.15\r\nrun_id:abc\r\n# Replication\r\nrole:master\r\n\
                    connected_slaves:2\r\nslave0:ip=10.0.0.2,port=6380,state=online,offset=1,lag=0\r\n\
                    slave1:ip=10.0.0.3,port=6381,state=wait_bgsave,offset=0,lag=0\r\n\
                    slave_read_repl_offset:5\r\n# Cluster\r\ncluster_enabled:0\r\n";
        let facts = InfoFacts::parse(info);
        assert_eq!(facts.run_id.as_deref(), Some("abc"));
        assert_eq!(facts.linked, [ep("10.0.0.2", 6380), ep("10.0.0.3", 6381)]);
        assert!(!facts.cluster_enabled);
    }

    #[test]
    fn info_of_a_replica_names_its_master() {
        let info = "run_id:def\r\nrole:slave\r\nmaster_host:10.0.0.1\r\nmaster_port:6379\r\n\
                    master_link_status:up\r\nslave_repl_offset:9\r\ncluster_enabled:1\r\n";
        let facts = InfoFacts::parse(info);
        assert_eq!(facts.linked, [ep("10.0.0.1", 6379)]);
        assert!(facts.cluster_enabled);
    }

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    #[test]
    fn cluster_shards_give_every_node_on_the_right_port() {
        let node = |id: &str, endpoint: &str, port: i64, tls_port: i64| {
            Value::Array(vec![
                bulk("id"),
                bulk(id),
                bulk("port"),
                Value::Int(port),
                bulk("tls-port"),
                Value::Int(tls_port),
                bulk("ip"),
                bulk("10.0.0.9"),
                bulk("endpoint"),
                bulk(endpoint),
                bulk("role"),
                bulk("master"),
                bulk("health"),
                bulk("online"),
            ])
        };
        let shards = Value::Array(vec![Value::Array(vec![
            bulk("slots"),
            Value::Array(vec![Value::Int(0), Value::Int(16383)]),
            bulk("nodes"),
            Value::Array(vec![
                node("a", "n1.internal", 7000, 17000),
                node("b", "?", 7001, 17001),
            ]),
        ])]);
        assert_eq!(
            cluster_nodes(&shards, false),
            [ep("n1.internal", 7000), ep("10.0.0.9", 7001)]
        );
        assert_eq!(
            cluster_nodes(&shards, true),
            [ep("n1.internal", 17000), ep("10.0.0.9", 17001)]
        );
        assert!(cluster_nodes(&Value::Nil, false).is_empty());
    }
}
