"""Task parameters: flags, types, prompting, env and stdin sources; secrets never echoed."""

from __future__ import annotations

import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from opsctl.config import ParamSpec, TaskConfig
from opsctl.errors import UsageError
from opsctl.params import Prompter, collect, split_args, validate

TASK = TaskConfig(
    name="cs",
    params=(
        ParamSpec("username", pattern=r"[a-z.]+"),
        ParamSpec("email", type="email"),
        ParamSpec("password", type="secret", confirm=True),
        ParamSpec("level", type="choice", choices=("staff", "admin"), default="staff"),
        ParamSpec("count", type="int", default=1),
        ParamSpec("force", type="bool"),
    ),
)
OFF_TTY = Prompter(interactive=False)


def test_flags_in_both_forms() -> None:
    given_ = split_args(TASK, ["--username", "ada", "--email=ada@x.io", "--force"], ["level=admin"])
    assert given_ == {"username": "ada", "email": "ada@x.io", "force": "true", "level": "admin"}


@pytest.mark.parametrize(
    ("args", "params", "message"),
    [
        (
            ["--nope", "1"],
            [],
            "task 'cs' has no parameter 'nope' (its parameters: --username, --email, --password, "
            "--level, --count, --force)",
        ),
        (["--email"], [], "--email needs a value"),
        (["stray"], [], "unexpected argument 'stray' (parameters are given as --NAME VALUE)"),
        ([], ["email"], "--param takes NAME=VALUE, not 'email'"),
        (["--email", "a@b.co"], ["email=c@d.co"], "--email given twice"),
    ],
)
def test_bad_flags(args: list[str], params: list[str], message: str) -> None:
    with pytest.raises(UsageError) as info:
        split_args(TASK, args, params)
    assert str(info.value) == message


def test_values_from_flags_env_and_defaults() -> None:
    values = collect(
        TASK, {"username": "ada", "email": "ada@x.io"}, OFF_TTY, environ={"OPSCTL_PARAM_PASSWORD": "s3cret"}
    )
    assert values == {
        "username": "ada",
        "email": "ada@x.io",
        "password": "s3cret",
        "level": "staff",
        "count": 1,
        "force": False,
    }


def test_secret_from_stdin() -> None:
    values = collect(
        TASK,
        {"username": "ada", "email": "a@b.co", "password": "-"},
        OFF_TTY,
        environ={},
        stdin=io.StringIO("from-stdin\n"),
    )
    assert values["password"] == "from-stdin"


def test_missing_off_a_tty_is_refused_with_the_way_out() -> None:
    with pytest.raises(UsageError) as info:
        collect(TASK, {"username": "ada", "email": "a@b.co"}, OFF_TTY, environ={})
    assert str(info.value) == (
        "missing --password (no terminal to prompt on: pass --password VALUE or set OPSCTL_PARAM_PASSWORD)"
    )


def test_prompts_on_a_tty_hidden_for_secrets_with_confirmation() -> None:
    asked: list[str] = []
    hidden = iter(["pw-one-1", "pw-two-2", "pw-one-1", "pw-one-1"])  # a mismatch first, then a matching pair

    def ask(prompt: str) -> str:
        asked.append(prompt)
        return {"Username: ": "ada", "Email: ": "ada@x.io"}[prompt]

    def ask_hidden(prompt: str) -> str:
        asked.append("hidden " + prompt)
        return next(hidden)

    values = collect(TASK, {}, Prompter(True, ask, ask_hidden), environ={})
    assert values["password"] == "pw-one-1" and values["username"] == "ada"
    assert asked == [
        "Username: ",
        "Email: ",
        "hidden Password: ",
        "hidden Password (again): ",
        "hidden Password: ",
        "hidden Password (again): ",
    ]


def test_prompt_retries_an_invalid_value() -> None:
    answers = iter(["not-an-email", "ada@x.io"])
    task = TaskConfig(name="t", params=(ParamSpec("email", type="email"),))
    values = collect(task, {}, Prompter(True, lambda _: next(answers), lambda _: ""), environ={})
    assert values == {"email": "ada@x.io"}


@pytest.mark.parametrize(
    ("param", "raw", "message"),
    [
        (ParamSpec("email", type="email"), "not-an-email", "--email: 'not-an-email' is not a valid email address"),
        (ParamSpec("email", type="email"), "a@b", "--email: 'a@b' is not a valid email address"),
        (ParamSpec("n", type="int"), "x", "--n: 'x' is not a whole number"),
        (ParamSpec("f", type="bool"), "maybe", "--f: 'maybe' is not true or false"),
        (ParamSpec("c", type="choice", choices=("a", "b")), "z", "--c: 'z' is not one of: a, b"),
        (ParamSpec("u", pattern="[a-z]+"), "Ada1", "--u: 'Ada1' does not match the pattern [a-z]+"),
        (
            ParamSpec("user", pattern="[a-z]{3,}", help="Lowercase login, 3 letters or more."),
            "Ad",
            "--user: 'Ad' is not valid: Lowercase login, 3 letters or more",
        ),
        (
            ParamSpec("pw", type="secret", pattern="^.{8,}$", help="At least 8 characters"),
            "seven77",  # long enough for a secret (6), too short for the pattern
            "--pw: the value is not valid: At least 8 characters",
        ),
        (
            ParamSpec("level", type="choice", choices=("staff", "admin")),
            "stafff",
            "--level: 'stafff' is not one of: staff, admin (did you mean 'staff'?)",
        ),
        (
            ParamSpec("level", type="choice", choices=("staff", "admin")),
            "root",
            "--level: 'root' is not one of: staff, admin",
        ),
        (
            ParamSpec("pw", type="secret", pattern="[a-z]{12,}"),
            "hunter2",
            "--pw: the value does not match the pattern [a-z]{12,}",
        ),
        (ParamSpec("a_b"), "", None),
    ],
)
def test_validation_messages_never_echo_secrets(param: ParamSpec, raw: str, message: str | None) -> None:
    if message is None:
        assert validate(param, raw) == ""
        return
    with pytest.raises(UsageError) as info:
        validate(param, raw)
    assert str(info.value) == message


def test_choices_match_without_regard_to_case_and_give_the_configured_spelling() -> None:
    spec = ParamSpec("level", type="choice", choices=("Staff", "admin"))
    assert validate(spec, "STAFF") == "Staff"
    assert validate(spec, "Admin") == "admin"


@given(st.text(max_size=40))
def test_secret_values_never_appear_in_errors(secret: str) -> None:
    spec = ParamSpec("pw", type="secret", pattern="[0-9]{3}")
    try:
        validate(spec, secret)
    except UsageError as e:
        # the message is one of four fixed texts, whatever the value was
        assert str(e) in {
            "--pw: the value does not match the pattern [0-9]{3}",
            "--pw: the value is empty",
            "--pw: the value contains a NUL byte, which no command line or environment can carry",
            "--pw: a secret must be at least 6 characters and not blank: "
            "a shorter one would be masked inside opsctl's own words",
        }


@given(st.emails())
def test_every_generated_email_is_accepted(email: str) -> None:
    assert validate(ParamSpec("email", type="email"), email) == email
