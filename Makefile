# Thin entry points; the scripts hold the logic.
.PHONY: dev test demo venv

## make dev: moto + WeChat simulator + `cargo lambda watch` on this machine (Ctrl-C stops all)
dev:
	bash scripts/dev.sh

## make test: lint, cargo test, e2e demo under cargo lambda, PII scan (what CI runs)
test:
	bash scripts/test.sh

## make demo: a full v2 and v1 verification against the stack of `make dev`
demo:
	bash scripts/demo.sh

## make venv: the project's Python tools (moto, cargo-lambda, cfn-lint) in .venv
venv:
	bash scripts/venv.sh
