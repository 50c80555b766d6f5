# opsctl recipes: operator shortcuts (seed 002's command set) and the developer checks.
# `just --list` shows them all. ENV is an environment from opsctl.toml (see: opsctl envs).

set shell := ["bash", "-euo", "pipefail", "-c"]
set positional-arguments

# Recipes use the project's own tools (opsctl, ruff, mypy, pytest, uv) from .venv/bin, so `.venv/bin/just …`
# works with no virtualenv activated; without a .venv (opsctl from pipx or uv tool) PATH is searched as usual.
export PATH := justfile_directory() / ".venv" / "bin" + ":" + env("PATH")

opsctl := env("OPSCTL", "opsctl")

# List the recipes
default:
    @{{just_executable()}} --justfile {{quote(justfile())}} --list

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

# The benchmark suite: prints a table, writes bench/results.json (about 3 minutes)
[group('dev')]
bench *args:
    python -m bench "$@"

# Everything CI checks: lint, formatting, types, the whole test suite
[group('dev')]
test *args: analyse
    ruff check .
    ruff format --check .
    mypy
    pytest "$@"

# The field's own analysers, offline (README: Supply chain): zizmor, check-jsonschema, checkov, hadolint
[group('dev')]
analyse:
    #!/usr/bin/env bash
    set -euo pipefail
    cd "{{justfile_directory()}}"
    # The project's .venv (pip install -e '.[dev]' puts every analyser there), else PATH.
    tool() {
        if [[ -x ".venv/bin/$1" ]]; then echo ".venv/bin/$1"
        elif command -v "$1" >/dev/null 2>&1; then command -v "$1"
        else echo "analyse: $1 is not installed; run: pip install -e '.[dev]'" >&2; return 2; fi
    }
    zizmor=$(tool zizmor); cjs=$(tool check-jsonschema); hadolint=$(tool hadolint)
    # checkov's dependencies clash with the dev environment's (boto3, packaging, hcl2): it lives in
    # its own venv, .venv/checkov, created on first use from PyPI (about a minute, 300 MB).
    # CHECKOV names an existing one (the fresh-clone test passes its parent's, instead of 300 MB more).
    if [[ -n "${CHECKOV:-}" ]]; then checkov=$CHECKOV
    elif [[ -x .venv/checkov/bin/checkov ]]; then checkov=.venv/checkov/bin/checkov
    elif command -v checkov >/dev/null 2>&1; then checkov=$(command -v checkov)
    else
        echo "analyse: installing checkov into .venv/checkov (once)"
        python3 -m venv .venv/checkov
        .venv/checkov/bin/pip install --quiet --disable-pip-version-check -r .github/analysers/requirements-checkov.txt
        checkov=.venv/checkov/bin/checkov
    fi
    echo "== zizmor --offline: action.yml, infra/github/*.yml, .github/dependabot.yml"
    "$zizmor" --quiet --offline --no-progress --color never --config .github/zizmor.yml \
        action.yml infra/github/*.yml .github/dependabot.yml
    echo "== check-jsonschema (vendored schemas): action, workflows, dependabot"
    "$cjs" --builtin-schema vendor.github-actions action.yml
    "$cjs" --builtin-schema vendor.github-workflows infra/github/*.yml
    "$cjs" --builtin-schema vendor.dependabot .github/dependabot.yml
    echo "== checkov: infra/terraform"
    "$checkov" -d infra/terraform --framework terraform --skip-download --compact --quiet
    echo "== checkov: infra/admin-task/Dockerfile"
    "$checkov" -f infra/admin-task/Dockerfile --framework dockerfile --skip-download --compact --quiet
    echo "== hadolint: infra/admin-task/Dockerfile"
    "$hadolint" --no-color infra/admin-task/Dockerfile
    echo "hadolint: no findings"
    echo "== shellcheck: the run: steps of action.yml and infra/github/*.yml"
    "{{just_executable()}}" --justfile "{{justfile()}}" shellcheck-steps action.yml infra/github/*.yml
    echo "analyse: clean (actionlint: no PyPI package ships a binary; see README)"

# ShellCheck every `run:` step of these workflow / action files (bash, as GitHub runs them)
[group('dev')]
shellcheck-steps +files:
    #!/usr/bin/env bash
    set -euo pipefail
    bin="{{justfile_directory()}}/.venv/bin"
    if [[ -x "$bin/python" ]]; then python="$bin/python"; else python=python3; fi
    if [[ -x "$bin/shellcheck" ]]; then shellcheck="$bin/shellcheck"
    elif command -v shellcheck >/dev/null 2>&1; then shellcheck=$(command -v shellcheck)
    else echo "shellcheck-steps: shellcheck is not installed; run: pip install -e '.[dev]'" >&2; exit 2; fi
    scripts=$(mktemp -d); trap 'rm -rf "$scripts"' EXIT
    # One file per step, named FILE--INDEX-STEP_NAME.sh, so a finding names its step.
    "$python" - "$scripts" "$@" <<'PY'
    import pathlib, re, sys, yaml
    out = pathlib.Path(sys.argv[1])
    for name in sys.argv[2:]:
        doc = yaml.safe_load(pathlib.Path(name).read_text(encoding="utf-8"))
        steps = doc["runs"]["steps"] if "runs" in doc else [s for j in doc["jobs"].values() for s in j["steps"]]
        for i, step in enumerate(steps):
            if "run" in step:
                label = re.sub(r"[^A-Za-z0-9]+", "_", str(step.get("name", step.get("id", ""))))
                (out / f"{pathlib.Path(name).name}--{i}-{label}.sh").write_text(step["run"], encoding="utf-8")
    PY
    cd "$scripts"
    if compgen -G "*.sh" >/dev/null; then "$shellcheck" --shell=bash --color=never ./*.sh; fi
    echo "shellcheck: no findings in $(find . -name '*.sh' | wc -l) run: steps"

# Check the installed dependencies (.venv) against PyPI's vulnerability data with pip-audit
[group('dev')]
[no-exit-message]
audit *args:
    #!/usr/bin/env bash
    set -euo pipefail
    cd "{{justfile_directory()}}"
    if [[ -x .venv/bin/pip-audit ]]; then pip_audit=.venv/bin/pip-audit
    elif command -v pip-audit >/dev/null 2>&1; then pip_audit=$(command -v pip-audit)
    else echo "audit: pip-audit is not installed; run: pip install -e '.[dev]'" >&2; exit 2; fi
    # Audit the project's .venv, every version exactly as installed (opsctl itself, editable and not
    # on PyPI, is skipped). A dependency pip-audit could not look up fails the audit too, rather than
    # "No known vulnerabilities found" over nothing checked.
    if [[ -x .venv/bin/python ]]; then export PIPAPI_PYTHON_LOCATION="$PWD/.venv/bin/python"; fi
    out=$(mktemp); trap 'rm -f "$out"' EXIT
    rc=0; "$pip_audit" --skip-editable --progress-spinner off --desc on "$@" >"$out" 2>&1 || rc=$?
    if grep -qE "could not be audited|Could not connect|Name or service not known|Max retries exceeded|Failed to establish|timed out" "$out" &&
        ! grep -qE "^Found [0-9]+ known vulnerabilit" "$out"; then
        echo "audit: pip-audit cannot reach a vulnerability database from this network, so no dependency was checked; run \`just audit\` where pypi.org (or OSV) is reachable" >&2
        exit 75
    fi
    cat "$out"; exit "$rc"

# Regenerate requirements-dev.lock from pyproject.toml (keeps other pins; `just lock --upgrade` for the newest)
[group('dev')]
lock *args:
    uv pip compile pyproject.toml --extra dev --universal --python-version 3.11 --generate-hashes \
        --custom-compile-command "just lock" --quiet --output-file requirements-dev.lock "$@"
