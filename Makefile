# Thin entry points; the scripts hold the logic.
.PHONY: dev test demo venv build bench bench-cold-start

## make dev: moto + WeChat simulator + `cargo lambda watch` on this machine (Ctrl-C stops all)
dev:
	bash scripts/dev.sh

## make test: lint (incl. sam validate), cargo test, e2e demo under cargo lambda, PII scan,
## release arm64 build within its size budget (what CI runs)
test:
	bash scripts/test.sh

## make demo: a full v2 and v1 verification against the stack of `make dev` (make demo FRONT=api:
## through its HTTP API front)
demo:
	FRONT=$(FRONT) bash scripts/demo.sh

## make venv: the project's Python tools (moto, cargo-lambda, zig, SAM CLI, cfn-lint) in .venv
venv:
	bash scripts/venv.sh

## make build: the functions as arm64 Lambda bootstraps (release; `make build ARCH=x86_64` for
## the template's Architecture=x86_64), with their sizes: target/lambda/<function>/bootstrap
## (what `sam build` packages; no Docker needed)
build:
	ARCH=$(or $(ARCH),arm64) bash scripts/build.sh

## make bench: as Lambda runs the functions: each one (beside a hello-world floor and a Python
## peer) under the CPU share and memory of 128-1,769 MB, every upstream over TLS and a round trip
## away; the power-tuning table and the memory each function should have (docs/performance.md)
bench:
	bash scripts/bench-cold-start.sh --as-lambda

## make bench-cold-start: init, cold and warm latency and RSS of every release bootstrap beside a
## hello-world floor and a Python peer (scripts/bench-cold-start.sh; docs/performance.md "Without caps")
bench-cold-start:
	bash scripts/bench-cold-start.sh
