//! The engine registry is the one list of engines: the build script, the function crates and the
//! Terraform modules must name exactly the engines it does, so that a missed one fails here rather
//! than at deploy or run time.

use rotation::engines::{self, EngineSpec};
use std::collections::BTreeSet;
use std::path::Path;

/// Functions `make build` packages besides one per engine.
const OTHER_FUNCTIONS: [&str; 1] = ["secret-rotation-monitor"];

fn repo_file(path: &str) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    std::fs::read_to_string(root.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn registry(keep: impl Fn(&EngineSpec) -> bool) -> BTreeSet<String> {
    engines::ALL
        .iter()
        .filter(|spec| keep(spec))
        .map(|spec| spec.name.to_owned())
        .collect()
}

/// The words of the first `[ … ]` or `( … )` after `marker`, unquoted.
fn list_after(text: &str, marker: &str, open: char, close: char) -> Option<BTreeSet<String>> {
    let rest = &text[text.find(marker)? + marker.len()..];
    let rest = &rest[rest.find(open)? + 1..];
    let body = &rest[..rest.find(close)?];
    Some(
        body.split(|c: char| c == ',' || c.is_whitespace())
            .map(|word| word.trim_matches('"'))
            .filter(|word| !word.is_empty())
            .map(str::to_owned)
            .collect(),
    )
}

/// The `[ … ]` list on the line that contains `needle`.
fn list_on_line(text: &str, needle: &str) -> Option<BTreeSet<String>> {
    let line = text.lines().find(|line| line.contains(needle))?;
    list_after(line, "", '[', ']')
}

fn same(
    place: &str,
    found: Option<BTreeSet<String>>,
    expected: &BTreeSet<String>,
) -> Result<(), String> {
    let found = found.ok_or_else(|| format!("{place}: the list was not found"))?;
    if &found == expected {
        return Ok(());
    }
    Err(format!(
        "{place} names {found:?}, the registry {expected:?}: missing {:?}, unknown {:?}",
        expected.difference(&found).collect::<Vec<_>>(),
        found.difference(expected).collect::<Vec<_>>()
    ))
}

fn build_script_functions(script: &str) -> Option<BTreeSet<String>> {
    list_after(script, "FUNCTIONS=", '(', ')')
}

fn expected_functions() -> BTreeSet<String> {
    engines::ALL
        .iter()
        .map(|spec| spec.function_package.to_owned())
        .chain(OTHER_FUNCTIONS.map(str::to_owned))
        .collect()
}

#[test]
fn the_build_script_packages_one_function_per_engine() {
    let script = repo_file("scripts/build.sh");
    same(
        "scripts/build.sh FUNCTIONS",
        build_script_functions(&script),
        &expected_functions(),
    )
    .unwrap();
}

#[test]
fn a_build_script_that_misses_an_engine_fails_the_check() {
    let script = "FUNCTIONS=(secret-rotation-postgres secret-rotation-jwt secret-rotation-monitor)";
    let err = same(
        "build.sh",
        build_script_functions(script),
        &expected_functions(),
    )
    .unwrap_err();
    assert!(err.contains("secret-rotation-redis"), "{err}");
}

#[test]
fn each_engine_has_a_function_crate_serving_its_registry_entry() {
    let members = repo_file("Cargo.toml");
    for spec in engines::ALL {
        let dir = format!("functions/{}", spec.name);
        assert!(
            members.contains(&format!("\"{dir}\"")),
            "{dir} is not a workspace member"
        );
        let manifest = repo_file(&format!("{dir}/Cargo.toml"));
        assert!(
            manifest.contains(&format!("name = \"{}\"", spec.function_package)),
            "{dir}/Cargo.toml is not the package {}",
            spec.function_package
        );
        let main = repo_file(&format!("{dir}/src/main.rs"));
        let entry = format!("engines::{}", spec.name.to_ascii_uppercase());
        assert!(
            main.contains(&entry),
            "{dir}/src/main.rs does not serve {entry}"
        );
    }
}

#[test]
fn the_terraform_modules_accept_exactly_the_registry_engines() {
    let all = registry(|_| true);
    // A secret's `engine` field may also be an alias its function accepts.
    let spellings: BTreeSet<String> = engines::ALL
        .iter()
        .flat_map(|spec| std::iter::once(spec.name).chain(spec.aliases.iter().copied()))
        .map(str::to_owned)
        .collect();
    let function = repo_file("terraform/modules/rotation-function/variables.tf");
    let secret = repo_file("terraform/modules/rotated-secret/variables.tf");
    let checks = [
        (
            "rotation-function var.engine validation",
            list_on_line(&function, "], var.engine)"),
            &all,
        ),
        (
            "rotated-secret engine validation",
            list_on_line(&secret, "jsondecode(var.secret_string).engine"),
            &spellings,
        ),
    ];
    let failures: Vec<String> = checks
        .into_iter()
        .filter_map(|(place, found, expected)| same(place, found, expected).err())
        .collect();
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn only_engines_that_look_up_rds_get_the_rds_permission() {
    let main = repo_file("terraform/modules/rotation-function/main.tf");
    same(
        "rotation-function local.engines_with_rds_lookups",
        list_after(&main, "engines_with_rds_lookups =", '[', ']'),
        &registry(|spec| spec.needs.rds_lookups),
    )
    .unwrap();
}

#[test]
fn the_complete_example_deploys_every_engine_and_puts_those_that_need_it_in_the_vpc() {
    let example = repo_file("terraform/examples/complete/main.tf");
    let start = example
        .find("functions = {")
        .expect("local.functions in examples/complete");
    let block = &example[start..];
    let block = &block[..block.find("\n  }").expect("end of local.functions")];
    let entries: Vec<(String, bool)> = block
        .lines()
        .filter_map(|line| {
            let (name, rest) = line.trim().split_once('=')?;
            let in_vpc = rest.split("in_vpc").nth(1)?;
            Some((name.trim().to_owned(), in_vpc.contains("true")))
        })
        .collect();
    let deployed: BTreeSet<String> = entries.iter().map(|(name, _)| name.clone()).collect();
    same(
        "examples/complete local.functions",
        Some(deployed),
        &registry(|_| true),
    )
    .unwrap();
    let in_vpc = entries
        .iter()
        .filter(|(_, vpc)| *vpc)
        .map(|(name, _)| name.clone())
        .collect();
    same(
        "examples/complete in_vpc",
        Some(in_vpc),
        &registry(|spec| spec.needs.vpc),
    )
    .unwrap();
}
