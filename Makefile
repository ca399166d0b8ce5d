# secret-rotation: two commands do all the set-up on a fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
CARGO ?= cargo

.PHONY: deps lint build test test-rust test-terraform e2e demo bench clean

deps:
	scripts/install-deps.sh

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --no-deps --workspace

## The whole suite against real PostgreSQL, redis-server and moto, started by the tests themselves.
test: deps lint test-rust e2e test-terraform
test: export IAM_SUITE_CALLS_REQUIRED := 1

# --all-targets resolves features as `cargo test` does, so the test run and CI's bench smoke run
# reuse this build instead of compiling the dependencies again with another feature set.
# The emulators record the calls the functions and rotationctl make (IAM_CALL_LOG_DIR); make e2e's
# IAM proof checks that each kind of call the suites saw is one it proved allowed.
IAM_CALLS := $(CURDIR)/target/iam-calls

test-rust:
	$(CARGO) build --workspace --all-targets
	rm -rf $(IAM_CALLS)
	IAM_CALL_LOG_DIR=$(IAM_CALLS) $(CARGO) test --workspace

test-terraform:
	RUN_CHECKOV=1 scripts/terraform-check.sh

## Deploy, then rotate: terraform apply of terraform/examples/e2e against the emulator, each secret
## rotated by the bootstrap read back from its deployed zip, the monitor asked, terraform destroy.
e2e:
	$(CARGO) build --workspace --bins
	IAM_CALL_LOG_DIR=$(IAM_CALLS) $(CARGO) test --workspace --test e2e -- --ignored --nocapture

## provided.al2023 zips: target/lambda/<function>/bootstrap.zip (ARCH=arm64 for Graviton).
build:
	scripts/build.sh

## One real rotation of each kind on a local stack, through the functions' own binaries.
# testkit's dependencies carry the library's test features, so this build and `make test`'s resolve
# the same features and share one compilation of the SDK.
demo: deps
	$(CARGO) build --workspace --bins
	$(CARGO) run -q -p testkit --bin demo

## Cold start, step latency, memory, API calls and a fleet run; prints its figures.
bench: deps
	scripts/bench.sh

clean:
	$(CARGO) clean
