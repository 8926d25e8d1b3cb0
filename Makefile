# The project's commands. `make test` is what CI runs (with `make lint`).
CARGO ?= cargo
LISTEN ?= 127.0.0.1:3000
MOCK_LISTEN ?= 127.0.0.1:4000
DATA_DIR ?= ./data
TARGET ?= http://127.0.0.1:3000

.PHONY: contract cross-check dist dist-check image run mock test conformance bench lint fmt openapi-check node-clients test-deps fuzz

## Run the production server on its embedded default (sled under ./data, self-hosted).
run:
	$(CARGO) run --release -p server --bin dokploy-auth -- serve --listen $(LISTEN) --data-dir $(DATA_DIR)

## Run the in-memory mock for frontend development (port 4000; inspector at /__mock/).
mock:
	$(CARGO) run --release -p mock --bin dokploy-auth-mock -- --listen $(MOCK_LISTEN)

## Every test of the workspace, and the OpenAPI document through an established validator;
## then the release as a user without Rust meets it (make dist-check).
test: openapi-check node-clients test-deps
	$(CARGO) test --workspace
	$(MAKE) dist-check

## The release in target/dist/: the archive (three binaries, docs), the npm packages, SHA256SUMS.
dist:
	packaging/dist.sh

## The server's image (packaging/Containerfile, FROM scratch) with Debian's buildah, checked.
image: dist
	packaging/image.sh

## make dist, then each part tried as a user without Rust would (packaging/check-dist.sh),
## and the image built and checked.
dist-check: dist
	packaging/check-dist.sh
	packaging/image.sh

## Dokploy's own clients (official tRPC client, CLI 0.2.6), the generated-client tools (TypeScript,
## openapi-typescript, openapi-fetch, @trpc/react-query) and Redocly's linter, pinned in conformance/node.
node-clients:
	@test -x conformance/node/node_modules/.bin/redocly -a -f conformance/node/node_modules/@trpc/client/package.json || (cd conformance/node && npm ci --no-audit --no-fund --ignore-scripts)

## What the tests drive for real: Debian's chromium and playwright-core + Vite (pinned)
## for mock/tests/browser.rs; Debian's fail2ban (its fail2ban-regex) for server/tests/audit_log.rs;
## Debian's postgresql for server/tests/postgres.rs (each test starts a cluster of its own).
test-deps:
	@test -x /usr/bin/chromium || apt-get install -y chromium || (apt-get update && apt-get install -y chromium) || echo "mock/tests/browser.rs needs Debian's chromium: apt-get install chromium (as root)" >&2
	@command -v fail2ban-regex >/dev/null 2>&1 || apt-get install -y --no-install-recommends fail2ban || (apt-get update && apt-get install -y --no-install-recommends fail2ban) || echo "server/tests/audit_log.rs needs fail2ban-regex: apt-get install fail2ban (as root)" >&2
	@test -f mock/browser/node_modules/playwright-core/package.json || (cd mock/browser && npm ci --no-audit --no-fund --ignore-scripts)
	@command -v promtool >/dev/null 2>&1 || apt-get install -y --no-install-recommends prometheus || (apt-get update && apt-get install -y --no-install-recommends prometheus) || echo "server/tests/metrics_rules.rs and binary.rs check with promtool: apt-get install prometheus (as root)" >&2
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || apt-get install -y --no-install-recommends postgresql || (apt-get update && apt-get install -y --no-install-recommends postgresql) || echo "server/tests/postgres.rs needs Debian's postgresql: apt-get install postgresql (as root)" >&2

## Write the generated contract files again (specs/openapi.yaml) from the specs crate;
## a test fails while the checked-in files differ from what is generated.
contract:
	UPDATE_CONTRACT=1 $(CARGO) test -q -p specs --test generated_files

## The OpenAPI documents are valid OpenAPI 3.1 (openapi-spec-validator from PyPI, in a
## virtual environment under target/: no system pip needed, as Debian's Python refuses it);
## schemathesis goes there too, for conformance/tests/schemathesis.rs.
VENV = target/venv
openapi-check: node-clients
	@test -x $(VENV)/bin/schemathesis || { rm -rf $(VENV); python3 -m venv $(VENV) || { apt-get install -y python3-venv && python3 -m venv $(VENV); }; } && $(VENV)/bin/pip install --quiet openapi-spec-validator==0.9.0 schemathesis==4.32.5
	$(VENV)/bin/openapi-spec-validator specs/openapi.yaml mock/openapi.yaml
	REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true conformance/node/node_modules/.bin/redocly lint --config redocly.yaml

## The conformance suite against any running implementation: make conformance TARGET=http://host:port
## (more flags in CONFORMANCE_ARGS, e.g. "--admin admin@example.com:password123" for a live one,
## "--profile dokploy-0.14 --transport trpc" for a Dokploy)
CONFORMANCE_ARGS ?=
conformance:
	$(CARGO) run --release -p conformance --bin dokploy-auth-conformance -- run --target $(TARGET) $(CONFORMANCE_ARGS)

## Benchmarks, as ratios against figures measured in the same run (bench/README.md);
## wrk (load), nginx (the rolling restart) and valgrind (instructions per request) from Debian.
BENCH_SECONDS ?= 4
bench:
	@for tool in wrk nginx valgrind; do command -v $$tool >/dev/null 2>&1 || apt-get install -y --no-install-recommends $$tool || (apt-get update && apt-get install -y --no-install-recommends $$tool) || (echo "make bench needs $$tool: apt-get install $$tool (as root)" >&2; exit 1); done
	@test -x bench/node/node_modules/.bin/prism || (cd bench/node && npm ci --no-audit --no-fund) || echo "Prism could not be installed: its comparison is skipped"
	$(CARGO) build --release -p server -p mock -p bench
	./target/release/bench --seconds $(BENCH_SECONDS) --out bench/results/latest.json

## Fuzz the request decoding paths (cargo-fuzz on the stable toolchain), FUZZ_SECONDS per target.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS = http_request input_validation wire_decoding
fuzz:
	@command -v cargo-fuzz >/dev/null 2>&1 || $(CARGO) install cargo-fuzz --locked
	RUSTC_BOOTSTRAP=1 $(CARGO) fuzz build -O
	@for t in $(FUZZ_TARGETS); do \
		mkdir -p fuzz/corpus/$$t; \
		echo "== fuzz $$t for $(FUZZ_SECONDS) s"; \
		RUSTC_BOOTSTRAP=1 $(CARGO) fuzz run -O $$t fuzz/corpus/$$t fuzz/seeds/$$t -- -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=4096 || exit 1; \
	done

## The mock and the suite type-check for Windows (x86_64-pc-windows-gnu, with Debian's
## MinGW for ring's C): the release workflow builds them there, and nothing else here
## would notice a Unix-only call creeping in. macOS shares the Unix paths Linux tests.
cross-check:
	@rustup target list --installed | grep -q x86_64-pc-windows-gnu || rustup target add x86_64-pc-windows-gnu
	@command -v x86_64-w64-mingw32-gcc >/dev/null 2>&1 || apt-get install -y --no-install-recommends gcc-mingw-w64-x86-64 || (apt-get update && apt-get install -y --no-install-recommends gcc-mingw-w64-x86-64)
	$(CARGO) check --locked --target x86_64-pc-windows-gnu -p mock --bin dokploy-auth-mock -p conformance --bin dokploy-auth-conformance

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all
