"""Hypothesis strategies for bad input: TOML documents built from opsctl's own keys with random values, and
random command lines made of opsctl's words.

Most drawn values are of the right kind, so that a document gets past the first check and into the deeper
ones; now and then anything goes (a wrong type, a misspelt key, a byte of broken syntax).
"""

from __future__ import annotations

import json
import math
from typing import Any

from hypothesis import strategies as st

from opsctl.config import PARAM_TYPES, PROVIDER_KINDS

COMMON_KEYS = ["protected", "allowed_refs", "env", "tasks"]
PROVIDER_KEYS = {
    "local": ["workdir"],
    "ecs": [
        *("region", "cluster", "service", "task_definition", "container", "subnets", "security_groups"),
        *("assign_public_ip", "launch_type", "capacity_provider_strategy", "platform_version", "log_group"),
        *("log_stream_prefix", "profile", "image"),
    ],
    "cloudrun": ["project", "region", "job", "container", "endpoint", "image"],
    "k8s": ["namespace"],
}
TASK_KEYS = ["help", "command", "env", "aliases", "timeout", "params", "confirm"]
PARAM_KEYS = ["type", "help", "prompt", "default", "choices", "pattern", "confirm"]

WORDS = (
    *PROVIDER_KINDS,
    *PARAM_TYPES,
    *("k8s", "float", "FARGATE", "LAMBDA", "15m", "90s", "1h30m", "0s", "-5m", "soon"),
    *("{email}", "{python}", "{env}", "{run_id}", "{nope}", "{", "}", "{{literal}}"),
    *("subnet-1", "sg-1", "europe-west2", "us-east-1", "^[a-z]+$", "([", "ada@example.com", "refs/heads/main"),
    *("{email:>999999999}", "{email!r}", "..", "a\0b", "x" * 5000),
    *("eu west 2", "", " ", "x" * 300, "ünïcödé", "line\nbreak", "'", '"', "\\", "staging", "local", "t"),
)
NAMES = ("staging", "prod", "local", "dev", "t", "seed-admin", "sa", "email", "password", "timeout")
ODD_NAMES = ("Bad", "a b", "", "x.y")
IDENTS = ("c", "s", "j", "p", "api", "admin", "clinloop-staging", "quill-admin-staging", "x/y", "A B")


def now_and_then(usual: st.SearchStrategy[Any], odd: st.SearchStrategy[Any], one_in: int) -> st.SearchStrategy[Any]:
    """`usual`, except about one time in `one_in` `odd` (one_of would pick each branch as often)."""
    # Hypothesis draws the first of the choices most often: that one is the usual.
    return st.sampled_from(range(one_in)).flatmap(lambda i: odd if i == one_in - 1 else usual)


text = st.text(alphabet=st.characters(codec="utf-8"), max_size=10)  # no lone surrogates: a file holds UTF-8
words = st.sampled_from(WORDS)
flags = st.booleans()
idents = st.sampled_from(IDENTS)
names = now_and_then(st.sampled_from(NAMES), st.sampled_from(ODD_NAMES) | st.text("abcXY-_ .0", max_size=6), 8)
scalars = st.one_of(words, text, st.integers(-3, 10**6), flags, st.floats(allow_nan=False, allow_infinity=False))
values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(names, inner, max_size=3), max_leaves=8
)
string_lists = st.lists(st.one_of(idents, words), max_size=3)
env_vars = st.dictionaries(st.sampled_from(["A", "ADMIN_EMAIL", "1BAD", "a-b", ""]) | text, st.one_of(words, values))


def mostly(good: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Usually a well-typed value; sometimes anything."""
    return now_and_then(good, st.one_of(words, values), 12)


def table(
    keys: list[str], special: dict[str, st.SearchStrategy[Any]], near_misses: tuple[str, ...] = ()
) -> st.SearchStrategy[dict[str, Any]]:
    """A table with any subset of `keys`, each with its own kind of value; now and then a misspelt key too."""
    right = st.fixed_dictionaries({}, optional={k: mostly(special.get(k, idents)) for k in keys})
    if not near_misses:
        return right
    wrong = st.fixed_dictionaries({}, optional={k: mostly(special.get(k, idents)) for k in (*keys, *near_misses)})
    return now_and_then(right, wrong, 5)


ENV_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "region": st.sampled_from(["europe-west2", "us-east-1", "eu west 2", "", "EU"]),
    "workdir": st.sampled_from([".", "/nonexistent", "sub/dir", ""]),
    "launch_type": st.sampled_from(["FARGATE", "EC2", "EXTERNAL", "LAMBDA"]),
    "capacity_provider_strategy": st.lists(
        st.fixed_dictionaries(
            {"capacity_provider": idents}, optional={"weight": st.integers(-1, 1001), "base": st.integers(-1, 5)}
        ),
        max_size=2,
    ),
    "env": env_vars,
    "tasks": st.dictionaries(names, table(["command", "timeout", "env"], {"command": string_lists})),
    "protected": flags,
    "assign_public_ip": flags,
    "allowed_refs": string_lists,
    "subnets": string_lists,
    "security_groups": string_lists,
}


def _environment(provider: str) -> st.SearchStrategy[dict[str, Any]]:
    body = table(COMMON_KEYS + PROVIDER_KEYS[provider], ENV_VALUES, ("subnet", "regoin", "build"))
    return body.map(lambda fields: {"provider": provider, **fields})


environment = mostly(st.sampled_from(list(PROVIDER_KEYS)).flatmap(_environment))
param = table(
    PARAM_KEYS,
    {
        "type": st.sampled_from((*PARAM_TYPES, "float")),
        "choices": string_lists,
        "default": st.one_of(words, st.integers(), flags),
        "pattern": st.sampled_from(["^[a-z]+$", ".*", "([", "^.{8,}$"]),
        "confirm": flags,
        "help": words,
        "prompt": words,
    },
)
task = mostly(
    table(
        TASK_KEYS,
        {
            "command": st.lists(st.sampled_from(["{python}", "-c", "pass", "{email}", "{nope}", "{"]), max_size=3),
            "env": env_vars,
            "aliases": string_lists,
            "timeout": st.sampled_from(["15m", "90s", "1h30m", "0s", "-5m", "soon", "5"]),
            "confirm": flags,
            "params": st.dictionaries(names, param, max_size=3),
            "help": words,
        },
        ("commnd", "param"),
    )
)
_documents = st.fixed_dictionaries(
    {
        "environments": mostly(st.dictionaries(names, environment, min_size=1, max_size=3)),
        "tasks": mostly(st.dictionaries(names, task, min_size=1, max_size=3)),
    }
)
documents = now_and_then(_documents, _documents.map(lambda doc: {**doc, "enviroments": {}}), 10)
# One character of TOML syntax dropped in somewhere, now and then.
corruptions = now_and_then(st.none(), st.tuples(st.floats(0, 1), st.sampled_from(list('[]{"=\n,'))), 8)

ENVS = ("staging", "prod", "ci", "local", "nope")
TASKS = ("seed-admin", "sa", "cs", "set-level", "wipe", "nope")
FLAGS = (
    *("--email", "--username", "--password", "--level", "--limit", "--force", "--param", "--timeout", "--output"),
    *("-o", "--yes", "-y", "--confirm", "--detach", "--no-logs", "--allow-concurrent", "--verbose", "--no-color"),
    *("--help", "-h", "--", "--version", "--config"),
)
VALUES = (
    *ENVS,
    *("json", "text", "yaml", "5m", "0s", "-1", "ada@example.com", "x", "staff", "admin", "root", "true", "maybe"),
    *("email=a@b.co", "="),
)
# ("-" alone reads standard input, which only a real process has: test_bad_input.py tests it that way.)
tokens = st.lists(st.one_of(st.sampled_from((*FLAGS, *VALUES)), text.filter(lambda t: t != "-")), max_size=8)
# `run ENV TASK …` or `tasks` / `envs` with opsctl's words after them, or any words at all.
argv_words = st.one_of(
    st.builds(lambda env, task, rest: ["run", env, task, *rest], st.sampled_from(ENVS), st.sampled_from(TASKS), tokens),
    st.builds(lambda command, rest: [command, *rest], st.sampled_from(["tasks", "envs"]), tokens),
    tokens,
)


def toml(value: Any) -> str:
    """`value` as a TOML value; tables inline (so a whole document fits on a line per top-level key)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else "nan"
    if isinstance(value, str):
        # A JSON string is a TOML basic string, once DEL (which TOML wants escaped) is escaped too.
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, list):
        return "[" + ", ".join(toml(v) for v in value) + "]"
    assert isinstance(value, dict)
    return "{" + ", ".join(f"{toml(str(k))} = {toml(v)}" for k, v in value.items()) + "}"


def document(doc: dict[str, Any], corruption: tuple[float, str] | None) -> str:
    """A TOML document: one line per top-level key; with a corruption, one character inserted somewhere."""
    text = "".join(f"{toml(key)} = {toml(value)}\n" for key, value in doc.items())
    if corruption is not None:
        at = int(corruption[0] * len(text))
        text = text[:at] + corruption[1] + text[at:]
    return text
