//! The `policy` member: per set, the algorithm, the grace period, the longest a rotation may take,
//! the HMAC key size and the flat consumer conventions to write. Validated on every read; unknown
//! fields are errors, so a typo cannot silently fall back to a default.

use super::model::{invalid, KeyAlg, SetName};
use crate::backend::BackendError;
use serde_json::{json, Map, Value};

/// The longest grace, token lifetime, cache time or rotation accepted: 400 days.
pub const MAX_SECONDS: u64 = 400 * 86_400;
/// `maxRotationSeconds` when the policy does not say: an hour from createSecret to finishSecret.
pub const DEFAULT_MAX_ROTATION_SECONDS: u64 = 3_600;
/// The largest random HMAC key: 512 bytes.
pub const MAX_HMAC_BYTES: u64 = 512;

/// A flat convention the secret carries for applications that read it (see docs/jwt.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Convention {
    /// `SECRET_KEY` / `SECRET_KEY_PREVIOUS` (refresh: `REFRESH_SECRET_KEY…`).
    SecretKey,
    /// `JWT_SIGNING_SECRET` / `JWT_VERIFICATION_SECRETS` (refresh: `JWT_REFRESH_…`).
    SigningSecret,
    /// `JWT_SECRETS`, a kid array (refresh: `JWT_REFRESH_SECRETS`).
    KidArray,
    /// `JWT_ACCESS_SECRET` and/or `JWT_SECRET` (refresh: `JWT_REFRESH_SECRET`): the active key
    /// alone. A hard cut: its consumers stop accepting the previous key at finishSecret.
    SingleKey,
}

impl Convention {
    /// Every convention a policy may name.
    pub const ALL: [Convention; 4] = [
        Convention::SecretKey,
        Convention::SigningSecret,
        Convention::KidArray,
        Convention::SingleKey,
    ];

    /// The conventions an HMAC set writes when its policy lists none, in order. `singleKey` is
    /// added only when the secret already holds one of its fields (see `SetPolicy::read`): its
    /// consumers lose the previous key at once, so no one gets it without asking or having it.
    pub const DEFAULT: [Convention; 3] = [
        Convention::SecretKey,
        Convention::SigningSecret,
        Convention::KidArray,
    ];

    /// The name used in `policy.<set>.conventions`.
    pub fn as_str(self) -> &'static str {
        match self {
            Convention::SecretKey => "secretKey",
            Convention::SigningSecret => "signingSecret",
            Convention::KidArray => "kidArray",
            Convention::SingleKey => "singleKey",
        }
    }

    /// The convention named `name` in a policy, if any.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == name)
    }

    /// The secret's fields for this convention and set: the signing field first. For
    /// `SingleKey`, the fields it may write, the one written when the secret has none first
    /// (`single_key_fields` says which a given secret gets).
    pub fn fields(self, set: SetName) -> &'static [&'static str] {
        match (self, set) {
            (Convention::SecretKey, SetName::Access) => &["SECRET_KEY", "SECRET_KEY_PREVIOUS"],
            (Convention::SecretKey, SetName::Refresh) => {
                &["REFRESH_SECRET_KEY", "REFRESH_SECRET_KEY_PREVIOUS"]
            }
            (Convention::SigningSecret, SetName::Access) => {
                &["JWT_SIGNING_SECRET", "JWT_VERIFICATION_SECRETS"]
            }
            (Convention::SigningSecret, SetName::Refresh) => &[
                "JWT_REFRESH_SIGNING_SECRET",
                "JWT_REFRESH_VERIFICATION_SECRETS",
            ],
            (Convention::KidArray, SetName::Access) => &["JWT_SECRETS"],
            (Convention::KidArray, SetName::Refresh) => &["JWT_REFRESH_SECRETS"],
            (Convention::SingleKey, SetName::Access) => &["JWT_ACCESS_SECRET", "JWT_SECRET"],
            (Convention::SingleKey, SetName::Refresh) => &["JWT_REFRESH_SECRET"],
        }
    }

    /// Whether its consumers verify with the active key alone, so that a token signed with the
    /// previous key stops verifying for them as soon as a rotation promotes a new one.
    pub fn hard_cut(self) -> bool {
        self == Convention::SingleKey
    }
}

/// The single-key fields of `set` that `holds` says the secret has (a non-null value), or the
/// first of them when it has none: `singleKey` keeps writing whichever of `JWT_SECRET` and
/// `JWT_ACCESS_SECRET` the applications already read (both, if both are there).
pub fn single_key_fields(set: SetName, holds: impl Fn(&str) -> bool) -> Vec<&'static str> {
    let all = Convention::SingleKey.fields(set);
    let held: Vec<&'static str> = all.iter().copied().filter(|f| holds(f)).collect();
    if held.is_empty() {
        all[..1].to_vec()
    } else {
        held
    }
}

/// One set's policy, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetPolicy {
    /// The algorithm every key of the set uses.
    pub algorithm: KeyAlg,
    /// How long a previous key keeps verifying after it stops signing.
    pub grace_seconds: u64,
    /// The longest a rotation may take from createSecret to finishSecret: the key createSecret
    /// demotes keeps signing until then, so its grace is counted from that bound.
    pub max_rotation_seconds: u64,
    /// The longest token lifetime, when given; only used to check or compute the grace.
    pub token_lifetime_seconds: Option<u64>,
    /// How long consumers may cache the secret, when given; as the token lifetime.
    pub cache_seconds: Option<u64>,
    /// Random bytes in a new HMAC key (HMAC sets only).
    pub hmac_key_bytes: usize,
    /// The flat conventions written for this set (HMAC sets only).
    pub conventions: Vec<Convention>,
}

/// Written back (`true`) when `conventions` includes `singleKey`; read only to refuse `false`.
const HARD_CUT: &str = "hardCut";

const FIELDS: [&str; 8] = [
    "algorithm",
    "graceSeconds",
    "maxRotationSeconds",
    "tokenLifetimeSeconds",
    "cacheSeconds",
    "hmacKeyBytes",
    "conventions",
    HARD_CUT,
];

/// Token lifetime and consumer cache time assumed when `graceSeconds` is not given.
pub fn default_lifetime_and_cache(set: SetName) -> (u64, u64) {
    match set {
        SetName::Access => (86_400, 3_600),
        SetName::Refresh => (30 * 86_400, 3_600),
    }
}

impl SetPolicy {
    /// Reads `policy.<set>`; `default_alg` is the algorithm of the set's keys, if it has any.
    /// As `read` for a secret without single-key fields.
    pub fn from_json(
        set: SetName,
        value: Option<&Value>,
        default_alg: Option<KeyAlg>,
    ) -> Result<Self, BackendError> {
        Self::read(set, value, default_alg, false)
    }

    /// Reads `policy.<set>` of a secret that holds one of the set's single-key fields when
    /// `holds_single_key`: then the default conventions include `singleKey`, so a secret
    /// onboarded from `JWT_ACCESS_SECRET` keeps that field up to date.
    pub fn read(
        set: SetName,
        value: Option<&Value>,
        default_alg: Option<KeyAlg>,
        holds_single_key: bool,
    ) -> Result<Self, BackendError> {
        let path = format!("policy.{}", set.as_str());
        let empty = Map::new();
        let object = match value {
            None | Some(Value::Null) => &empty,
            Some(Value::Object(object)) => object,
            Some(_) => return Err(invalid(&path, "must be an object")),
        };
        if let Some(unknown) = object.keys().find(|k| !FIELDS.contains(&k.as_str())) {
            return Err(invalid(
                &format!("{path}.{unknown}"),
                &format!("is not a policy field (known: {})", FIELDS.join(", ")),
            ));
        }
        let algorithm = algorithm(object, &path, default_alg)?;
        let token_lifetime_seconds = seconds(object, "tokenLifetimeSeconds", &path, 0)?;
        let cache_seconds = seconds(object, "cacheSeconds", &path, 0)?;
        let grace_seconds =
            grace_seconds(object, &path, set, token_lifetime_seconds, cache_seconds)?;
        let max_rotation_seconds = seconds(object, "maxRotationSeconds", &path, 1)?
            .unwrap_or(DEFAULT_MAX_ROTATION_SECONDS);
        let hmac_key_bytes = hmac_key_bytes(object, &path, algorithm)?;
        let conventions = conventions(
            object.get("conventions"),
            &path,
            algorithm,
            holds_single_key,
        )?;
        hard_cut(object, &path, &conventions)?;
        Ok(Self {
            algorithm,
            grace_seconds,
            max_rotation_seconds,
            token_lifetime_seconds,
            cache_seconds,
            hmac_key_bytes,
            conventions,
        })
    }

    /// The resolved policy as written back to `policy.<set>`.
    pub fn to_json(&self) -> Value {
        let mut out = Map::new();
        out.insert("algorithm".into(), json!(self.algorithm.as_str()));
        out.insert("graceSeconds".into(), json!(self.grace_seconds));
        out.insert(
            "maxRotationSeconds".into(),
            json!(self.max_rotation_seconds),
        );
        if let Some(lifetime) = self.token_lifetime_seconds {
            out.insert("tokenLifetimeSeconds".into(), json!(lifetime));
        }
        if let Some(cache) = self.cache_seconds {
            out.insert("cacheSeconds".into(), json!(cache));
        }
        if self.algorithm.is_hmac() {
            out.insert("hmacKeyBytes".into(), json!(self.hmac_key_bytes));
        }
        let names: Vec<&str> = self.conventions.iter().map(|c| c.as_str()).collect();
        out.insert("conventions".into(), json!(names));
        // Says in the policy itself that a consumer of the single-key field loses the previous
        // key at finishSecret (docs/jwt.md, *Consumer conventions*).
        if self.conventions.iter().any(|c| c.hard_cut()) {
            out.insert(HARD_CUT.into(), json!(true));
        }
        Value::Object(out)
    }

    /// Whether the set's fields include `convention`.
    pub fn has(&self, convention: Convention) -> bool {
        self.conventions.contains(&convention)
    }

    /// The `verifyUntil` of a key that stops signing in a rotation whose createSecret runs at
    /// `now`: it may sign until finishSecret, at most `maxRotationSeconds` later, and a token it
    /// signs then must verify for the whole grace.
    pub fn previous_until(&self, now: u64) -> u64 {
        now.saturating_add(self.max_rotation_seconds)
            .saturating_add(self.grace_seconds)
    }
}

fn algorithm(
    object: &Map<String, Value>,
    path: &str,
    default_alg: Option<KeyAlg>,
) -> Result<KeyAlg, BackendError> {
    match object.get("algorithm") {
        None | Some(Value::Null) => Ok(default_alg.unwrap_or(KeyAlg::HS256)),
        Some(Value::String(name)) => KeyAlg::parse(name).ok_or_else(|| {
            invalid(
                &format!("{path}.algorithm"),
                "must be HS256, HS384, HS512, EdDSA or ES256",
            )
        }),
        Some(_) => Err(invalid(&format!("{path}.algorithm"), "must be a string")),
    }
}

/// `graceSeconds`: given, at least the token lifetime plus the cache time given with it;
/// otherwise their sum, from the set's defaults where not given.
fn grace_seconds(
    object: &Map<String, Value>,
    path: &str,
    set: SetName,
    token_lifetime_seconds: Option<u64>,
    cache_seconds: Option<u64>,
) -> Result<u64, BackendError> {
    match seconds(object, "graceSeconds", path, 1)? {
        Some(grace) => {
            let floor = token_lifetime_seconds.unwrap_or(0) + cache_seconds.unwrap_or(0);
            if grace < floor {
                return Err(invalid(
                    &format!("{path}.graceSeconds"),
                    &format!(
                        "is {grace}, shorter than tokenLifetimeSeconds + cacheSeconds ({floor}): \
                         tokens would stop verifying before they expire"
                    ),
                ));
            }
            Ok(grace)
        }
        None => {
            let (lifetime, cache) = default_lifetime_and_cache(set);
            Ok(
                (token_lifetime_seconds.unwrap_or(lifetime) + cache_seconds.unwrap_or(cache))
                    .max(1),
            )
        }
    }
}

/// `hmacKeyBytes`: HMAC sets only, never fewer than the hash size.
fn hmac_key_bytes(
    object: &Map<String, Value>,
    path: &str,
    algorithm: KeyAlg,
) -> Result<usize, BackendError> {
    match integer(object, "hmacKeyBytes", path, 0, MAX_HMAC_BYTES)? {
        Some(_) if !algorithm.is_hmac() => Err(invalid(
            &format!("{path}.hmacKeyBytes"),
            "applies to HMAC algorithms only",
        )),
        Some(bytes) if (bytes as usize) < algorithm.hmac_hash_bytes() => Err(invalid(
            &format!("{path}.hmacKeyBytes"),
            &format!(
                "must be at least {} for {}",
                algorithm.hmac_hash_bytes(),
                algorithm.as_str()
            ),
        )),
        Some(bytes) => Ok(bytes as usize),
        None => Ok(algorithm.hmac_hash_bytes()),
    }
}

/// A duration in seconds from `min` to `MAX_SECONDS`.
fn seconds(
    object: &Map<String, Value>,
    name: &str,
    path: &str,
    min: u64,
) -> Result<Option<u64>, BackendError> {
    integer(object, name, path, min, MAX_SECONDS)
}

fn integer(
    object: &Map<String, Value>,
    name: &str,
    path: &str,
    min: u64,
    max: u64,
) -> Result<Option<u64>, BackendError> {
    match object.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => match n.as_u64() {
            Some(v) if (min..=max).contains(&v) => Ok(Some(v)),
            _ => Err(invalid(
                &format!("{path}.{name}"),
                &format!("must be an integer from {min} to {max}"),
            )),
        },
        Some(_) => Err(invalid(&format!("{path}.{name}"), "must be an integer")),
    }
}

fn conventions(
    value: Option<&Value>,
    path: &str,
    algorithm: KeyAlg,
    holds_single_key: bool,
) -> Result<Vec<Convention>, BackendError> {
    let path = format!("{path}.conventions");
    let Some(value) = value.filter(|v| !v.is_null()) else {
        if !algorithm.is_hmac() {
            return Ok(Vec::new());
        }
        let mut out = Convention::DEFAULT.to_vec();
        if holds_single_key {
            out.push(Convention::SingleKey);
        }
        return Ok(out);
    };
    let items = value
        .as_array()
        .ok_or_else(|| invalid(&path, "must be an array"))?;
    let mut out = Vec::new();
    for item in items {
        let convention = item.as_str().and_then(Convention::parse).ok_or_else(|| {
            invalid(
                &path,
                "may hold only secretKey, signingSecret, kidArray and singleKey",
            )
        })?;
        if out.contains(&convention) {
            return Err(invalid(&path, "names a convention twice"));
        }
        out.push(convention);
    }
    if !algorithm.is_hmac() && !out.is_empty() {
        return Err(invalid(
            &path,
            "must be empty for EdDSA and ES256: the flat conventions carry HMAC secrets; \
             verifiers read the public `jwks` member",
        ));
    }
    Ok(out)
}

/// `hardCut` is the function's statement, not a setting: `false` beside `singleKey` would
/// claim what is not so. Anything else it says is replaced on the next write.
fn hard_cut(
    object: &Map<String, Value>,
    path: &str,
    conventions: &[Convention],
) -> Result<(), BackendError> {
    let single = conventions.iter().any(|c| c.hard_cut());
    match object.get(HARD_CUT) {
        None | Some(Value::Null) | Some(Value::Bool(true)) => Ok(()),
        Some(Value::Bool(false)) if !single => Ok(()),
        Some(Value::Bool(false)) => Err(invalid(
            &format!("{path}.{HARD_CUT}"),
            "cannot be false while conventions include singleKey: its field holds the active \
             key alone, so its consumers stop accepting the previous key at finishSecret; \
             remove singleKey to avoid that",
        )),
        Some(_) => Err(invalid(
            &format!("{path}.{HARD_CUT}"),
            "must be true or false",
        )),
    }
}

/// The set names `policy` configures, each known.
pub fn configured_sets(policy: Option<&Value>) -> Result<Vec<SetName>, BackendError> {
    match policy {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Object(object)) => object
            .keys()
            .map(|name| {
                SetName::parse(name).ok_or_else(|| {
                    invalid(
                        &format!("policy.{name}"),
                        "is not a key set (known: access, refresh)",
                    )
                })
            })
            .collect(),
        Some(_) => Err(invalid("policy", "must be an object")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(value: Value) -> Result<SetPolicy, BackendError> {
        SetPolicy::from_json(SetName::Access, Some(&value), None)
    }

    #[test]
    fn defaults_cover_a_day_long_token_and_an_hour_of_cache() {
        let policy = SetPolicy::from_json(SetName::Access, None, None).unwrap();
        assert_eq!(policy.algorithm, KeyAlg::HS256);
        assert_eq!(policy.grace_seconds, 90_000);
        assert_eq!(policy.max_rotation_seconds, 3_600);
        assert_eq!(policy.previous_until(100), 100 + 90_000 + 3_600);
        assert_eq!(policy.hmac_key_bytes, 32);
        assert_eq!(policy.conventions, Convention::DEFAULT.to_vec());
        let refresh = SetPolicy::from_json(SetName::Refresh, None, Some(KeyAlg::HS512)).unwrap();
        assert_eq!(refresh.grace_seconds, 30 * 86_400 + 3_600);
        assert_eq!(refresh.hmac_key_bytes, 64);
        assert_eq!(refresh.max_rotation_seconds, 3_600);
        assert_eq!(
            read(json!({"tokenLifetimeSeconds": 900, "cacheSeconds": 60}))
                .unwrap()
                .grace_seconds,
            960
        );
    }

    #[test]
    fn written_policy_reads_back_the_same() {
        let policy = read(json!({"algorithm": "HS384", "graceSeconds": 7200,
            "tokenLifetimeSeconds": 3600, "conventions": ["kidArray"]}))
        .unwrap();
        assert_eq!(read(policy.to_json()).unwrap(), policy);
        let ed = read(json!({"algorithm": "EdDSA", "graceSeconds": 60})).unwrap();
        assert!(ed.conventions.is_empty());
        assert_eq!(read(ed.to_json()).unwrap(), ed);
    }

    #[test]
    fn max_rotation_seconds_defaults_to_an_hour_and_is_written_back() {
        let default = read(json!({"graceSeconds": 60})).unwrap();
        assert_eq!(default.max_rotation_seconds, DEFAULT_MAX_ROTATION_SECONDS);
        assert_eq!(default.to_json()["maxRotationSeconds"], json!(3_600));
        assert_eq!(read(default.to_json()).unwrap(), default);
        for given in [1, 90, MAX_SECONDS] {
            let policy = read(json!({"graceSeconds": 60, "maxRotationSeconds": given})).unwrap();
            assert_eq!(policy.max_rotation_seconds, given);
            assert_eq!(policy.to_json()["maxRotationSeconds"], json!(given));
            assert_eq!(read(policy.to_json()).unwrap(), policy);
        }
        let saturated =
            read(json!({"graceSeconds": MAX_SECONDS, "maxRotationSeconds": MAX_SECONDS})).unwrap();
        assert_eq!(saturated.previous_until(u64::MAX - 1), u64::MAX);
        for bad in [
            json!(0),
            json!(-1),
            json!("3600"),
            json!(1.5),
            json!(true),
            json!(MAX_SECONDS + 1),
        ] {
            match read(json!({"maxRotationSeconds": bad})) {
                Err(BackendError::InvalidField { field, problem }) => {
                    assert_eq!(field, "policy.access.maxRotationSeconds", "{bad}");
                    assert!(problem.contains("integer"), "{bad}: {problem}");
                }
                other => panic!("{bad}: {other:?}"),
            }
        }
    }

    #[test]
    fn bad_policies_name_the_field() {
        let cases = [
            (json!({"graceSecond": 5}), "policy.access.graceSecond"),
            (json!({"algorithm": "none"}), "policy.access.algorithm"),
            (json!({"algorithm": "RS256"}), "policy.access.algorithm"),
            (json!({"graceSeconds": 0}), "policy.access.graceSeconds"),
            (json!({"graceSeconds": "60"}), "policy.access.graceSeconds"),
            (
                json!({"graceSeconds": 60, "tokenLifetimeSeconds": 900}),
                "policy.access.graceSeconds",
            ),
            (json!({"hmacKeyBytes": 16}), "policy.access.hmacKeyBytes"),
            (
                json!({"algorithm": "HS512", "hmacKeyBytes": 32}),
                "policy.access.hmacKeyBytes",
            ),
            (
                json!({"algorithm": "ES256", "hmacKeyBytes": 32}),
                "policy.access.hmacKeyBytes",
            ),
            (
                json!({"conventions": ["SECRET_KEY"]}),
                "policy.access.conventions",
            ),
            (
                json!({"conventions": ["kidArray", "kidArray"]}),
                "policy.access.conventions",
            ),
            (
                json!({"algorithm": "EdDSA", "conventions": ["kidArray"]}),
                "policy.access.conventions",
            ),
            (json!([]), "policy.access"),
        ];
        for (value, field) in cases {
            match read(value.clone()) {
                Err(BackendError::InvalidField { field: f, .. }) => assert_eq!(f, field, "{value}"),
                other => panic!("{value}: {other:?}"),
            }
        }
        assert!(configured_sets(Some(&json!({"acess": {}}))).is_err());
    }
}
