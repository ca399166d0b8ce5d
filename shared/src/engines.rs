//! The engines the product rotates, in one list. The function binaries, the CLI's `--engine` and
//! its local dispatch, and the health rules read it; a test checks `scripts/build.sh` and the
//! Terraform modules against it. Each entry ([`EngineSpec`]) is defined beside its backend.
//!
//! Adding an engine: a backend folder with its `SPEC`, one line in [`ALL`], a function crate whose
//! `main.rs` calls [`crate::runtime::serve`] with that spec, and its docs and tests.

pub use crate::backend::{EngineSpec, Needs};
pub use crate::jwt::SPEC as JWT;
pub use crate::postgres::SPEC as POSTGRES;
pub use crate::redis::SPEC as REDIS;

/// Every engine, in the order the CLI and the docs list them.
pub static ALL: [&EngineSpec; 3] = [&POSTGRES, &REDIS, &JWT];

/// The engine whose name or alias is `engine` (as a secret's `engine` field spells it).
pub fn find(engine: &str) -> Option<&'static EngineSpec> {
    ALL.iter().copied().find(|spec| spec.accepts(engine))
}

/// The engines' names, in [`ALL`]'s order. A constant of names only, so that a binary that needs
/// just the names (the monitor) does not link every backend through `ALL`'s builders.
pub const NAMES: [&str; 3] = [POSTGRES.name, REDIS.name, JWT.name];

/// The engines' names.
pub fn names() -> impl Iterator<Item = &'static str> {
    NAMES.into_iter()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn the_names_constant_follows_the_registry() {
        let listed: Vec<&str> = ALL.iter().map(|spec| spec.name).collect();
        assert_eq!(NAMES.as_slice(), listed.as_slice());
    }

    #[test]
    fn names_and_aliases_are_lowercase_and_name_one_engine_each() {
        let mut seen = BTreeSet::new();
        for spec in ALL {
            for name in std::iter::once(spec.name).chain(spec.aliases.iter().copied()) {
                assert_eq!(name, name.to_ascii_lowercase(), "{name}");
                assert!(seen.insert(name), "{name} names two engines");
                assert_eq!(find(name).map(|s| s.name), Some(spec.name));
            }
        }
        assert!(find("mysql").is_none());
    }

    #[tokio::test]
    async fn each_entry_builds_the_backend_that_carries_its_name() {
        let config = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .build();
        for spec in ALL {
            assert_eq!((spec.build)(&config).engine(), spec.name);
            assert_eq!(
                spec.function_package,
                format!("secret-rotation-{}", spec.name)
            );
        }
    }
}
