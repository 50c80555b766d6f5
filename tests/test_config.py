"""opsctl.toml parsing: discovery, every error names the file and dotted key, overrides, placeholders."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from opsctl import config
from opsctl.config import CloudRunEnv, EcsEnv, LocalEnv
from opsctl.errors import ConfigError, UsageError

BASE = """
[environments.staging]
provider = "ecs"
region = "eu-west-2"
cluster = "c"
service = "s"

[environments.prod]
provider = "cloudrun"
project = "p"
region = "europe-west2"
job = "j"
protected = true

[environments.dev]
provider = "local"
workdir = "sub"
env = { DATABASE_URL = "sqlite:///x.db" }

[environments.dev.tasks.seed-admin]
command = ["{python}", "-m", "admin_task"]
env = { EXTRA = "1" }

[tasks.seed-admin]
help = "Seed"
command = ["node", "seed.js", "{email}"]
env = { ADMIN_EMAIL = "{email}", RUN = "{run_id}" }
aliases = ["sa"]
timeout = "15m"

[tasks.seed-admin.params.email]
type = "email"
"""


def write(tmp_path: Path, text: str, name: str = "opsctl.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def load_error(tmp_path: Path, text: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(tmp_path)
    write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        config.load()
    return str(info.value)


def test_full_config_parses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path, BASE)
    cfg = config.load()
    staging, prod, dev = (cfg.environment(n) for n in ("staging", "prod", "dev"))
    assert isinstance(staging, EcsEnv) and staging.cluster == "c" and staging.service == "s"
    assert isinstance(prod, CloudRunEnv) and prod.protected and prod.job == "j"
    assert isinstance(dev, LocalEnv) and dev.workdir == tmp_path.resolve() / "sub"
    task = cfg.task(staging, "sa")
    assert task.name == "seed-admin" and task.timeout_s == 900 and task.command == ("node", "seed.js", "{email}")
    local_task = cfg.task(dev, "seed-admin")
    assert local_task.command == ("{python}", "-m", "admin_task")
    assert dict(local_task.env) == {"ADMIN_EMAIL": "{email}", "RUN": "{run_id}", "EXTRA": "1"}
    assert cfg.tasks["seed-admin"].overridden_in == ("dev",)


def test_discovery_walks_up_and_falls_back_to_pyproject(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    write(tmp_path, "[tool.opsctl.tasks.t]\ncommand = ['true']\n", "pyproject.toml")
    write(tmp_path / "a", "[project]\nname = 'x'\n", "pyproject.toml")  # no [tool.opsctl]: skipped
    monkeypatch.chdir(deep)
    cfg = config.load()
    assert cfg.path == tmp_path / "pyproject.toml" and "t" in cfg.tasks
    write(tmp_path / "a", BASE)
    assert config.load().path == tmp_path / "a" / "opsctl.toml"
    monkeypatch.setenv("OPSCTL_CONFIG", str(tmp_path / "pyproject.toml"))
    assert config.load().path == tmp_path / "pyproject.toml"
    assert config.load(str(tmp_path / "a" / "opsctl.toml")).path == tmp_path / "a" / "opsctl.toml"


def test_no_config_anywhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=r"no opsctl.toml in .* or any parent .* pass --config PATH"):
        config.load()


def test_builtin_local_environment_when_none_is_configured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "[tasks.t]\ncommand = ['true']\n")
    env = config.load().environment("local")
    assert isinstance(env, LocalEnv) and env.builtin and env.workdir == tmp_path.resolve()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "[environments.x]\nregion = 'r'\n",
            "opsctl.toml: environments.x.provider: required: one of local, ecs, cloudrun",
        ),
        (
            "[environments.x]\nprovider = 'k8s'\n",
            "opsctl.toml: environments.x.provider: must be one of local, ecs, cloudrun, not 'k8s'",
        ),
        (
            "[environments.x]\nprovider = 'ecs'\ntask_definition = 'f'\nsubnets = ['s']\n",
            'opsctl.toml: environments.x.cluster: required when provider = "ecs"',
        ),
        (
            "[environments.x]\nprovider = 'ecs'\ncluster = 'c'\nservice = 's'\nsubnet = ['a']\n",
            "opsctl.toml: environments.x.subnet: unknown key for provider = \"ecs\"; did you mean 'subnets'?",
        ),
        (
            "[environments.x]\nprovider = 'ecs'\ncluster = 'c'\n",
            "opsctl.toml: environments.x.task_definition: required when no service is set (or set service)",
        ),
        (
            "[environments.x]\nprovider = 'cloudrun'\nproject = 'p'\nregion = 'r'\n",
            'opsctl.toml: environments.x.job: required when provider = "cloudrun"',
        ),
        (
            "[environments.x]\nprovider = 'local'\nprotected = 'yes'\n",
            "opsctl.toml: environments.x.protected: must be true or false, not a string",
        ),
        (
            "[environments.x]\nprovider = 'local'\nenv = { PORT = 5432 }\n",
            "opsctl.toml: environments.x.env.PORT: must be a string, not an integer (quote it)",
        ),
        (
            "[environments.x]\nprovider = 'local'\ncluster = 'c'\n",
            'opsctl.toml: environments.x.cluster: unknown key for provider = "local"; allowed: allowed_refs, env, '
            "protected, provider, tasks, workdir",
        ),
        (
            "[tasks.t]\ncommand = 'echo hi'\n",
            'opsctl.toml: tasks.t.command: must be a list of strings (argv), e.g. ["python", "-m", "admin_task"]',
        ),
        (
            "[tasks.t]\ncommand = ['echo', '{who}']\n",
            "opsctl.toml: tasks.t.command[1]: unknown placeholder {who}; use a parameter of this task or a built-in "
            "({env}, {task}, {run_id}, {actor}, {python})",
        ),
        (
            "[tasks.t]\ntimeout = 'soon'\n",
            "opsctl.toml: tasks.t.timeout: 'soon' is not a duration (examples: 90s, 15m, 1h30m)",
        ),
        (
            "[tasks.t]\nhelp = 'x'\n[tasks.t.params.n]\ntype = 'float'\n",
            "opsctl.toml: tasks.t.params.n.type: must be one of string, email, secret, choice, int, bool, not 'float'",
        ),
        (
            "[tasks.t.params.n]\ntype = 'choice'\n",
            'opsctl.toml: tasks.t.params.n.choices: required when type = "choice"',
        ),
        (
            "[tasks.t.params.n]\ntype = 'secret'\ndefault = 'x'\n",
            "opsctl.toml: tasks.t.params.n.default: a secret cannot have a default (it would live in the config)",
        ),
        (
            "[tasks.t.params.n]\ntype = 'int'\ndefault = 'many'\n",
            "opsctl.toml: tasks.t.params.n.default: 'many' is not a whole number",
        ),
        (
            "[tasks.t.params.timeout]\n",
            "opsctl.toml: tasks.t.params.timeout: 'timeout' is reserved (an opsctl option or built-in placeholder); rename it",
        ),
        (
            "[tasks.t.params.n]\npatern = 'x'\n",
            "opsctl.toml: tasks.t.params.n.patern: unknown key; did you mean 'pattern'?",
        ),
        (
            "[tasks.a]\naliases = ['x']\n[tasks.b]\naliases = ['x']\n",
            "opsctl.toml: tasks.b.aliases: 'x' is already used by task 'a'",
        ),
        (
            "[environments.x]\nprovider = 'local'\n[environments.x.tasks.nope]\ncommand = ['x']\n",
            "opsctl.toml: environments.x.tasks.nope: overrides an unknown task (known: none)",
        ),
        (
            "[environment.x]\nprovider = 'local'\n",
            "opsctl.toml: environment: unknown key; did you mean 'environments'?",
        ),
        (
            "[environments.x\n",
            "opsctl.toml: invalid TOML: Expected ']' at the end of a table declaration (at line 1, column 16)",
        ),
    ],
)
def test_every_mistake_is_one_line_naming_file_and_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, message: str
) -> None:
    error = load_error(tmp_path, text, monkeypatch)
    assert error == message
    assert "\n" not in error


def test_pyproject_errors_name_the_tool_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "[tool.opsctl.environments.x]\nprovider = 'nope'\n", "pyproject.toml")
    with pytest.raises(ConfigError, match=r"^pyproject.toml: tool.opsctl.environments.x.provider: must be one of"):
        config.load()


def test_unknown_env_and_task_are_usage_errors_with_suggestions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path, BASE)
    cfg = config.load()
    with pytest.raises(UsageError) as env_error:
        cfg.environment("stagin")
    assert (
        str(env_error.value)
        == "unknown environment 'stagin' (known: dev, local, prod, staging); did you mean 'staging'?"
    )
    with pytest.raises(UsageError) as task_error:
        cfg.task(cfg.environment("dev"), "seed-admn")
    assert str(task_error.value) == "unknown task 'seed-admn' (known: sa, seed-admin); did you mean 'seed-admin'?"


@pytest.mark.parametrize(("text", "seconds"), [("90s", 90), ("15m", 900), ("1h30m", 5400), ("2", 2), ("1.5h", 5400)])
def test_durations(text: str, seconds: float) -> None:
    assert config.parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "0s", "soon", "-5s", "5 minutes", "m"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError):
        config.parse_duration(text)


def test_repo_config_is_valid() -> None:
    cfg = config.parse_file(Path(__file__).resolve().parent.parent / "opsctl.toml")
    assert {"local", "staging", "prod"} <= set(cfg.environments)
    assert {"seed-admin", "create-superadmin", "update-permissions", "add-role", "bootstrap-tenant"} <= set(cfg.tasks)
    local = cfg.environment("local")
    assert [cfg.task(local, a).name for a in ("cs", "up", "ar")] == [
        "create-superadmin",
        "update-permissions",
        "add-role",
    ]


def test_build_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write(
        tmp_path,
        "[environments.p]\nprovider = 'cloudrun'\nproject = 'p'\nregion = 'r'\njob = 'j'\n"
        "image = 'europe-west2-docker.pkg.dev/p/r/admin'\n[environments.p.build]\ncontext = 'app'\n"
        "target = 'ops'\n",
    )
    env = config.load().environment("p")
    assert isinstance(env, CloudRunEnv) and (env.build.context, env.build.target, env.build.dockerfile) == (
        "app",
        "ops",
        None,
    )
    write(
        tmp_path,
        "[environments.p]\nprovider = 'cloudrun'\nproject = 'p'\nregion = 'r'\njob = 'j'\n"
        "[environments.p.build]\ntargt = 'x'\n",
    )
    with pytest.raises(ConfigError, match=r"environments.p.build.targt: unknown key; did you mean 'target'\?"):
        config.load()
