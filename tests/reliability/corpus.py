"""The curated bad-input corpus: malformed configs and argument sets, each with its documented exit code and
a piece of the one-line message that must name what is wrong (the file's dotted key, the flag, the value)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

# Secret values given on the command line or through OPSCTL_PARAM_* in cases that fail for another reason:
# no output may show them.
SECRET = 'Pa$$w0rd|*[x](y)"{q}\\n'
OTHER_SECRET = "hunter2-über-<b>&amp;"
CASE_SECRETS = frozenset({SECRET, OTHER_SECRET})

# A valid configuration: an ECS, a Cloud Run and a local environment; typed parameters of every kind.
BASE = """\
[environments.staging]
provider = "ecs"
cluster = "clinloop-staging"
service = "clinloop-staging-api"
container = "api"

[environments.prod]
provider = "cloudrun"
project = "quill-prod-123456"
region = "europe-west2"
job = "quill-admin-prod"
protected = true

[environments.ci]
provider = "local"
workdir = "@WORKDIR@"
allowed_refs = ["refs/heads/main"]

[tasks.seed-admin]
help = "Create an admin, or confirm it exists"
command = ["{python}", "-c", "pass"]
env = { ADMIN_EMAIL = "{email}" }
aliases = ["sa"]

[tasks.seed-admin.params.email]
type = "email"

[tasks.create-superadmin]
command = ["{python}", "-c", "pass"]
env = { ADMIN_USERNAME = "{username}", ADMIN_PASSWORD = "{password}" }
aliases = ["cs"]

[tasks.create-superadmin.params.username]
pattern = "^[a-z]{2,16}$"

[tasks.create-superadmin.params.password]
type = "secret"
pattern = "^.{8,}$"

[tasks.set-level]
command = ["{python}", "-c", "pass"]
env = { LEVEL = "{level}", LIMIT = "{limit}", FORCE = "{force}" }

[tasks.set-level.params.level]
type = "choice"
choices = ["staff", "admin"]

[tasks.set-level.params.limit]
type = "int"
default = 10

[tasks.set-level.params.force]
type = "bool"

[tasks.echo]
command = ["{python}", "-c", "pass"]
env = { TEXT = "{text}" }

[tasks.echo.params.text]

[tasks.wipe]
help = "Asks for confirmation in every environment"
command = ["{python}", "-c", "pass"]
confirm = true
"""

# The smallest valid configuration, for config cases to add their one mistake to.
MINIMAL = """\
[tasks.t]
command = ["{python}", "-c", "pass"]
"""


@dataclass(frozen=True)
class Case:
    """One bad input: argv (CONFIG stands for the case's config file), its exit code and a piece of its message."""

    name: str
    argv: tuple[str, ...]
    code: int
    says: str
    config: str = BASE
    env: Mapping[str, str] = field(default_factory=dict)
    # False when no real process can be given this argv (a NUL byte, a value past the OS's limit): in-process only.
    process: bool = True


CONFIG = "@CONFIG@"
RUN = ("--config", CONFIG, "run")


def usage(name: str, *args: str, says: str, env: Mapping[str, str] | None = None) -> Case:
    """A bad `opsctl run …` against BASE: exit 2."""
    return Case(name, (*RUN, *args), 2, says, env=env or {})


def command(name: str, *args: str, says: str) -> Case:
    """A bad use of another command against BASE: exit 2."""
    return Case(name, ("--config", CONFIG, *args), 2, says)


def refused(name: str, *args: str, says: str, env: Mapping[str, str] | None = None) -> Case:
    """A refused `opsctl run …`: exit 77."""
    return Case(name, (*RUN, *args), 77, says, env=env or {})


def bad_config(name: str, toml: str, says: str, *, base: str = MINIMAL, env: str = "local") -> Case:
    """A config with one mistake (added to `base`): exit 78 from `opsctl run ENV t`, naming the file and key."""
    return Case(name, (*RUN, env, "t"), 78, says, config=base + toml)


def ecs(body: str) -> str:
    return f'\n[environments.e]\nprovider = "ecs"\n{body}\n'


def cloudrun(body: str) -> str:
    return f'\n[environments.g]\nprovider = "cloudrun"\n{body}\n'


def task(body: str, name: str = "u") -> str:
    return f"\n[tasks.{name}]\n{body}\n"


OK_ECS = 'cluster = "c"\nservice = "s"\n'
OK_RUN = 'project = "p"\nregion = "europe-west2"\njob = "j"\n'
VALID_EMAIL = ("--email", "ada@example.com")

CONFIG_CASES = [
    # TOML syntax
    bad_config("unclosed table header", "[environments.e\n", "invalid TOML"),
    bad_config("duplicate key", '[environments.e]\nprovider = "local"\nprovider = "ecs"\n', "invalid TOML"),
    bad_config("unterminated string", '[environments.e]\nprovider = "local\n', "invalid TOML"),
    bad_config("table defined twice", '[tasks.t]\nhelp = "again"\n', "invalid TOML"),
    bad_config("bare word value", "[environments.e]\nprovider = local\n", "invalid TOML"),
    bad_config(
        "not UTF-8",
        '[environments.e]\nprovider = "local"\nworkdir = "caf\udce9"\n',
        "opsctl.toml",
    ),
    # structure and unknown keys
    bad_config("unknown top-level table", '[enviroments.e]\nprovider = "local"\n', "did you mean 'environments'"),
    bad_config("environments not a table", "", "environments: must be a table", base="environments = 5\n" + MINIMAL),
    bad_config("environment not a table", '[environments]\ne = "local"\n', "environments.e: must be a table"),
    bad_config("unknown environment key", ecs(OK_ECS + 'subnet = ["s-1"]'), "environments.e.subnet: unknown key"),
    bad_config(
        "key of another provider", '\n[environments.l]\nprovider = "local"\ncluster = "c"\n', "environments.l.cluster"
    ),
    bad_config("unknown task key", task('commnd = ["x"]'), "tasks.u.commnd: unknown key; did you mean 'command'?"),
    bad_config("unknown param key", task("[tasks.u.params.p]\ntyp = 'int'"), "tasks.u.params.p.typ: unknown key"),
    # required keys per provider
    bad_config("no provider", '\n[environments.e]\nregion = "x"\n', "environments.e.provider: required"),
    bad_config("unknown provider", '\n[environments.e]\nprovider = "k8s"\n', "environments.e.provider: must be one of"),
    bad_config("ecs without cluster", ecs('service = "s"'), "environments.e.cluster: required"),
    bad_config("ecs without service or task definition", ecs('cluster = "c"'), "environments.e.task_definition"),
    bad_config(
        "ecs task definition without network", ecs('cluster = "c"\ntask_definition = "td"'), "environments.e.subnets"
    ),
    bad_config("cloudrun without job", cloudrun('project = "p"\nregion = "r"'), "environments.g.job: required"),
    bad_config("cloudrun without project", cloudrun('region = "r"\njob = "j"'), "environments.g.project: required"),
    bad_config("cloudrun without region", cloudrun('project = "p"\njob = "j"'), "environments.g.region: required"),
    # wrong types and values
    bad_config(
        "region not a string", cloudrun('project = "p"\nregion = 5\njob = "j"'), "environments.g.region: must be"
    ),
    bad_config("empty cluster", ecs('cluster = " "\nservice = "s"'), "environments.e.cluster: must be a non-empty"),
    bad_config("protected as a string", ecs(OK_ECS + 'protected = "yes"'), "environments.e.protected: must be true"),
    bad_config("allowed_refs as a string", ecs(OK_ECS + 'allowed_refs = "main"'), "environments.e.allowed_refs"),
    bad_config("subnets as a string", ecs('cluster = "c"\ntask_definition = "t"\nsubnets = "s-1"'), "subnets"),
    bad_config("launch type unknown", ecs(OK_ECS + 'launch_type = "LAMBDA"'), "environments.e.launch_type"),
    bad_config(
        "launch type and capacity providers",
        ecs(OK_ECS + 'launch_type = "FARGATE"\ncapacity_provider_strategy = [{ capacity_provider = "F" }]'),
        "cannot be combined with launch_type",
    ),
    bad_config(
        "negative capacity weight",
        ecs(OK_ECS + 'capacity_provider_strategy = [{ capacity_provider = "F", weight = -1 }]'),
        "capacity_provider_strategy[0].weight",
    ),
    bad_config("17 subnets", ecs(f'cluster = "c"\nservice = "s"\nsubnets = {[f"s-{i}" for i in range(17)]}'), "16"),
    bad_config(
        "region that is not a region",
        ecs(OK_ECS + 'region = "eu west 2"'),
        "environments.e.region",
        env="e",
    ),
    bad_config(
        "environment name in capitals", '\n[environments.Staging]\nprovider = "local"\n', "environments.Staging"
    ),
    bad_config(
        "line break in a quoted key",
        '\n[environments."stag\\ning"]\nprovider = "local"\n',
        "environments.",
    ),
    bad_config("bad env var name", ecs(OK_ECS + 'env = { "1BAD" = "x" }'), "environments.e.env.1BAD"),
    bad_config("env var value not a string", ecs(OK_ECS + "env = { PORT = 8080 }"), "environments.e.env.PORT"),
    bad_config("command as a string", task('command = "python -m x"'), "tasks.u.command: must be a list"),
    bad_config("empty command", task("command = []"), "tasks.u.command: must not be empty"),
    bad_config("command with a number", task('command = ["x", 1]'), "tasks.u.command"),
    bad_config("task timeout not a duration", task('command = ["x"]\ntimeout = "soon"'), "tasks.u.timeout"),
    bad_config("task timeout zero", task('command = ["x"]\ntimeout = "0s"'), "tasks.u.timeout"),
    bad_config("timeout as a boolean", task('command = ["x"]\ntimeout = true'), "tasks.u.timeout"),
    bad_config("task name with a space", task('command = ["x"]', name='"seed admin"'), "tasks.seed admin"),
    bad_config(
        "environment override of an unknown task",
        '\n[environments.l]\nprovider = "local"\n[environments.l.tasks.nope]\ncommand = ["x"]\n',
        "environments.l.tasks.nope: overrides an unknown task",
    ),
    bad_config(
        "override of a field that cannot be overridden",
        '\n[environments.l]\nprovider = "local"\n[environments.l.tasks.t]\naliases = ["x"]\n',
        "environments.l.tasks.t.aliases",
    ),
    # placeholders
    bad_config("unknown placeholder", task('command = ["x"]\nenv = { A = "{emial}" }'), "unknown placeholder {emial}"),
    bad_config("unbalanced brace", task('command = ["x", "{email"]'), "tasks.u.command[1]: bad placeholder"),
    bad_config("stray closing brace", task('command = ["x}"]'), "tasks.u.command[0]: bad placeholder"),
    bad_config("environment env placeholder", ecs(OK_ECS + 'env = { A = "{email}" }'), "unknown placeholder {email}"),
    bad_config("attribute placeholder", task('command = ["{env.name}"]'), "unknown placeholder {env.name}"),
    bad_config(
        "placeholder with a format spec",
        task('command = ["x", "{p:>999999999999}"]\n[tasks.u.params.p]'),
        "tasks.u.command[1]: placeholder {p:>999999999999} must be a plain name like {p}",
    ),
    bad_config(
        "placeholder with a conversion",
        task('command = ["x"]\nenv = { A = "{p!r}" }\n[tasks.u.params.p]'),
        "tasks.u.env.A: placeholder {p!r} must be a plain name like {p}",
    ),
    bad_config("NUL byte in a command", task('command = ["x\\u0000y"]'), "tasks.u.command[0]: contains a NUL byte"),
    bad_config("3000-deep nesting", "x = " + "[" * 3000 + "]" * 3000 + "\n", "nested too deeply"),
    # aliases and parameter names
    bad_config(
        "alias used twice",
        task('command = ["x"]\naliases = ["a"]') + task("aliases = ['a']", "v"),
        "tasks.v.aliases: 'a' is already used by task 'u'",
    ),
    bad_config("alias equal to a task name", task('command = ["x"]\naliases = ["t"]'), "already used by task 't'"),
    bad_config("reserved param name", task("[tasks.u.params.timeout]"), "'timeout' is reserved"),
    bad_config("built-in param name", task("[tasks.u.params.run_id]"), "'run_id' is reserved"),
    bad_config("param name in capitals", task("[tasks.u.params.Email]"), "tasks.u.params.Email"),
    bad_config("unknown param type", task("[tasks.u.params.p]\ntype = 'float'"), "tasks.u.params.p.type"),
    bad_config("choice without choices", task("[tasks.u.params.p]\ntype = 'choice'"), "tasks.u.params.p.choices"),
    bad_config("choices on a string", task("[tasks.u.params.p]\nchoices = ['a']"), "only allowed with type"),
    bad_config("bad pattern", task("[tasks.u.params.p]\npattern = '([a-z'"), "invalid regular expression"),
    bad_config("confirm on a string", task("[tasks.u.params.p]\nconfirm = true"), "tasks.u.params.p.confirm"),
    bad_config("secret with a default", task("[tasks.u.params.p]\ntype = 'secret'\ndefault = 'x'"), "default"),
    bad_config("int default not a number", task("[tasks.u.params.p]\ntype = 'int'\ndefault = 'ten'"), "not a whole"),
    bad_config(
        "choice default not a choice",
        task("[tasks.u.params.p]\ntype = 'choice'\nchoices = ['a']\ndefault = 'b'"),
        "tasks.u.params.p.default",
    ),
]


ARGV_CASES = [
    # usage: the command line itself
    Case("no arguments to run", ("--config", CONFIG, "run"), 2, "Missing argument 'ENV'"),
    Case("no task", (*RUN, "staging"), 2, "Missing argument 'TASK'"),
    Case("unknown command", ("--config", CONFIG, "frobnicate"), 2, "No such command 'frobnicate'"),
    Case("unknown global option", ("--confi", CONFIG, "envs"), 2, "No such option: --confi"),
    Case("option without its value", ("envs", "--output"), 2, "requires an argument"),
    usage("unknown environment", "stagign", "seed-admin", *VALID_EMAIL, says="did you mean 'staging'?"),
    usage("unknown task", "staging", "seed-amdin", *VALID_EMAIL, says="unknown task 'seed-amdin'"),
    usage("bad email", "staging", "sa", "--email", "ada-at-example", says="--email: 'ada-at-example' is not a valid"),
    usage("missing parameter off a terminal", "staging", "seed-admin", says="missing --email (no terminal"),
    usage("unknown parameter", "staging", "sa", *VALID_EMAIL, "--emial", "x", says="has no parameter 'emial'"),
    usage("parameter given twice", "staging", "sa", *VALID_EMAIL, "--email=b@example.com", says="given twice"),
    usage("parameter without its value", "staging", "sa", "--email", says="--email needs a value"),
    usage("stray argument", "staging", "sa", *VALID_EMAIL, "extra", says="unexpected argument 'extra'"),
    Case(
        "line break in a parameter flag",
        (*RUN, "staging", "sa", *VALID_EMAIL, "--x\ny"),
        2,
        "needs a value",
    ),
    usage("--param without =", "staging", "sa", "--param", "email", says="--param takes NAME=VALUE"),
    usage("--param without a name", "staging", "sa", "--param", "=x@example.com", says="--param takes NAME=VALUE"),
    usage("bad timeout", "staging", "sa", *VALID_EMAIL, "--timeout", "5x", says="--timeout: '5x' is not a duration"),
    usage("zero timeout", "staging", "sa", *VALID_EMAIL, "--timeout", "0s", says="not a positive duration"),
    usage("negative timeout", "staging", "sa", *VALID_EMAIL, "--timeout=-5m", says="--timeout"),
    usage("timeout without its value", "staging", "sa", *VALID_EMAIL, "--timeout", says="requires an argument"),
    usage("bad output", "staging", "sa", *VALID_EMAIL, "--output", "yaml", says="--output: 'yaml' is not one of"),
    usage("short output flag without value", "staging", "sa", *VALID_EMAIL, "-o", says="requires an argument"),
    usage("confirm without its value", "prod", "sa", *VALID_EMAIL, "--yes", "--confirm", says="requires an argument"),
    usage("choice not a choice", "staging", "set-level", "--level", "root", says="'root' is not one of: staff, admin"),
    usage("int not a number", "staging", "set-level", "--level", "staff", "--limit", "ten", says="not a whole number"),
    usage("bool not a bool", "prod", "set-level", "--level", "staff", "--force", "maybe", says="not true or false"),
    usage(
        "secret pattern mismatch",
        "staging",
        "cs",
        "--username",
        "ada",
        "--password",
        "short-7",  # 6+ characters (opsctl's own minimum), under the task's own pattern of 8+
        says="--password: the value does not match",
    ),
    usage(
        "bad username next to a good secret",
        "prod",
        "cs",
        "--username",
        "Ada Lovelace",
        "--password",
        SECRET,
        says="--username: 'Ada Lovelace' does not match",
    ),
    usage("empty secret", "staging", "cs", "--username", "ada", "--password=", says="--password: the value is empty"),
    usage(
        "missing secret off a terminal",
        "staging",
        "cs",
        "--username",
        "ada",
        says="missing --password (no terminal to prompt on: pass --password VALUE or set OPSCTL_PARAM_PASSWORD)",
    ),
    usage(
        "secret from the environment, bad username",
        "staging",
        "cs",
        "--username",
        "x",
        says="--username: 'x' does not match",
        env={"OPSCTL_PARAM_PASSWORD": OTHER_SECRET},
    ),
    usage(
        "secret given twice",
        "staging",
        "cs",
        "--username",
        "ada",
        "--password",
        SECRET,
        "--param",
        f"password={OTHER_SECRET}",
        says="--password given twice",
    ),
    command("history limit zero", "history", "staging", "--limit", "0", says="--limit"),
    command("history limit not a number", "history", "staging", "--limit", "many", says="--limit"),
    command("tasks of an unknown env", "tasks", "nope", says="unknown environment 'nope'"),
    command("envs as xml", "envs", "--output", "xml", says="--output: 'xml' is not one of"),
    command("wait without a run", "wait", "staging", says="Missing argument 'RUN'"),
    command("stop a run that is no task id", "stop", "staging", "not an id!", says="is not an ECS task ARN or id"),
    command("wait for no execution name", "wait", "prod", "Not_An_Execution", says="is not a Cloud Run execution"),
    Case(
        "NUL byte in a parameter value",
        (*RUN, "ci", "echo", "--text", "a\0b"),
        2,
        "--text: the value contains a NUL byte",
        process=False,
    ),
    Case(
        "a value past the OS's argument-size limit",
        (*RUN, "ci", "echo", "--text", "x" * 200_000),
        2,
        "environment variable TEXT is 200,005 bytes; the OS takes at most 131,071 per value",
        process=False,
    ),
    command("'..' as a local run id", "wait", "ci", "..", says="'..' is not a local run id"),
    command("a path as a local run id", "stop", "ci", "../../etc", says="is not a local run id"),
    command("a 5000-character local run id", "logs", "ci", "a" * 5000, says="(5000 characters)' is not a local run"),
    command("a 5000-character ECS task id", "wait", "staging", "a" * 5000, says="is not an ECS task ARN or id"),
    command(
        "a 5000-character ECS task ARN",
        "stop",
        "staging",
        "arn:aws:ecs:us-east-1:123456789012:task/c/" + "a" * 5000,
        says="is not an ECS task ARN or id",
    ),
    command("a 5000-character Cloud Run execution", "wait", "prod", "e" * 5000, says="is not a Cloud Run execution"),
    Case("an unknown local run", ("--config", CONFIG, "wait", "ci", "20260101T000000Z-0000beef"), 69, "no local run"),
    command("logs since a bad duration", "logs", "staging", "0123456789abcdef", "--since", "5q", says="'5q' is not a"),
    # refused
    refused("protected off a terminal", "prod", "sa", *VALID_EMAIL, says="environment 'prod' is protected"),
    refused("protected with --yes only", "prod", "sa", *VALID_EMAIL, "--yes", says="confirm with --yes --confirm"),
    refused("confirming the wrong env", "prod", "sa", *VALID_EMAIL, "--yes", "--confirm", "staging", says="does not"),
    refused(
        "secret task on protected env",
        "prod",
        "cs",
        "--username",
        "ada",
        "--password",
        SECRET,
        says="environment 'prod' is protected",
    ),
    refused("task that asks for confirmation", "staging", "wipe", says="runs task 'wipe', which asks for confirmation"),
    refused(
        "branch lock in GitHub Actions",
        "ci",
        "sa",
        *VALID_EMAIL,
        "--yes",
        says="only runs from refs/heads/main; this workflow runs on refs/heads/feature",
        env={"GITHUB_ACTIONS": "true", "GITHUB_REF": "refs/heads/feature"},
    ),
    refused(
        "branch lock in GitHub Actions, with a secret",
        "ci",
        "cs",
        "--username",
        "ada",
        "--yes",
        says="only runs from refs/heads/main",
        env={"GITHUB_ACTIONS": "true", "GITHUB_REF": "refs/tags/v1", "OPSCTL_PARAM_PASSWORD": SECRET},
    ),
    # configuration found (or not) outside the file's contents
    Case("missing --config file", ("--config", "/nonexistent/opsctl.toml", "envs"), 78, "/nonexistent/opsctl.toml"),
    Case("config is a directory", ("--config", "/", "envs"), 78, "no such file"),
    Case("missing $OPSCTL_CONFIG", ("envs",), 78, "/nonexistent.toml", env={"OPSCTL_CONFIG": "/nonexistent.toml"}),
    Case(
        "bad [tool.opsctl] in pyproject.toml",
        ("--config", "@PYPROJECT@", "envs"),
        78,
        "tool.opsctl.environments.x.provider",
        config='[project]\nname = "x"\n[tool.opsctl.environments.x]\nprovider = "nope"\n',
    ),
    Case(
        "bad retry setting",
        (*RUN, "staging", "sa", *VALID_EMAIL),
        78,
        "OPSCTL_RETRY_",
        env={"OPSCTL_RETRY_MAX_S": "soon"},
    ),
    Case(
        "bad timing scale",
        (*RUN, "prod", "sa", *VALID_EMAIL, "--yes", "--confirm", "prod"),
        78,
        "OPSCTL_TIMING_SCALE",
        env={"OPSCTL_TIMING_SCALE": "fast"},
    ),
]

CASES = [*CONFIG_CASES, *ARGV_CASES]
