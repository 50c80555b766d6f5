# opsctl recipes: operator shortcuts (seed 002's command set) and the developer checks.
# `just --list` shows them all. ENV is an environment from opsctl.toml (see: opsctl envs).

set shell := ["bash", "-euo", "pipefail", "-c"]
set positional-arguments

opsctl := env("OPSCTL", "opsctl")

# List the recipes
default:
    @just --list

# Create (or update) a superadmin; prompts for username, email and a hidden password
[group('admin')]
create-superadmin env *params:
    {{opsctl}} run "$1" create-superadmin "${@:2}"

# Change a user's permission level (patient < staff < admin < superadmin)
[group('admin')]
update-permissions-remote env *params:
    {{opsctl}} run "$1" update-permissions "${@:2}"

# Add a role to a user (System Administrator, Clinician, …)
[group('admin')]
add-role-remote env *params:
    {{opsctl}} run "$1" add-role "${@:2}"

# Seed an admin account by email, idempotently (seed 000's workflow)
[group('admin')]
seed-admin env email *params:
    {{opsctl}} run "$1" seed-admin --email "$2" "${@:3}"

# Create a tenant and its first admin, only while the tenant has no staff
[group('admin')]
bootstrap-tenant env tenant email *params:
    {{opsctl}} run "$1" bootstrap-tenant --tenant "$2" --email "$3" "${@:4}"

# Build and push the admin image, then point the job / task definition at it
[group('admin')]
build-admin env *args:
    {{opsctl}} build "$1" "${@:2}"

alias cs := create-superadmin
alias up := update-permissions-remote
alias ar := add-role-remote
alias ba := build-admin

# The benchmark suite: prints a table, writes bench/results.json (about 6 minutes)
[group('dev')]
bench *args:
    python -m bench "$@"

# Everything CI checks: lint, formatting, types, the whole test suite
[group('dev')]
test *args:
    ruff check .
    ruff format --check .
    mypy
    pytest "$@"
