"""Bad input: malformed configs and command lines are refused with one line, a documented exit code, no
traceback, nothing on stdout, and without a single cloud call.

The ECS environments reach moto only through the counting fault proxy, the Cloud Run ones reach the gRPC
fake only through a TCP relay that counts connections: "zero cloud calls" means no request and no
connection at all. The curated corpus runs in-process through `opsctl.cli._main` (a sample again as real
`python -m opsctl` processes); hypothesis adds generated configs and command lines.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

from opsctl.cli import _main
from tests.conftest import run_cli
from tests.fakes.faultproxy import FaultProxy
from tests.reliability.conftest import GcpStack, Report
from tests.reliability.corpus import CASE_SECRETS, CASES, CONFIG_CASES, Case
from tests.reliability.generated import argv_words, corruptions, document, documents
from tests.reliability.leaks import Channels, describe

ERROR = "opsctl: error: "
REFUSALS = {2, 77, 78}  # the codes of input opsctl refuses before any cloud call
SUBPROCESS_SAMPLE = 10
GENERATED = 100  # examples per hypothesis test (x --soak)


@dataclass
class Clouds:
    """Every way opsctl could reach a cloud stand-in, counted."""

    moto: FaultProxy
    gcp: GcpStack

    def count(self) -> int:
        """Requests to moto, calls and connections to the Cloud Run fake so far."""
        return (
            len(self.moto.calls)
            + sum(self.gcp.fake.calls.values())
            + len(self.gcp.proxy.calls)
            + self.gcp.dropper.accepted
        )


@pytest.fixture
def clouds(
    aws_env: None, moto_proxy: FaultProxy, gcp_stack: Callable[..., GcpStack], monkeypatch: pytest.MonkeyPatch
) -> Clouds:
    """ECS through the counting proxy, Cloud Run through the counting relay; fast retries."""
    stack = gcp_stack()
    monkeypatch.setenv("OPSCTL_GCP_ENDPOINT", stack.address)
    for name, value in {
        "OPSCTL_RETRY_BASE_S": "0.01",
        "OPSCTL_RETRY_WAIT_MAX_S": "0.05",
        "OPSCTL_RETRY_MAX_S": "2",
    }.items():
        monkeypatch.setenv(name, value)
    return Clouds(moto_proxy, stack)


@dataclass
class Answer:
    """What one invocation did."""

    code: int
    out: str
    err: str
    calls: int

    def problems(self, expected_code: int | None, says: str | None, *, actions: bool = False) -> list[str]:
        """What breaks the bad-input contract (with expected_code None: any refusal, or an accepted input)."""
        # Lines as a terminal or a CI log shows them (str.splitlines would also split on \x1c, \x85, …).
        lines = self.err.replace("\r\n", "\n").replace("\r", "\n").removesuffix("\n").split("\n") if self.err else []
        errors = [line for line in lines if line.startswith(ERROR)]
        others = [line for line in lines if not line.startswith(ERROR)]
        wrong = []
        if expected_code is not None and self.code != expected_code:
            wrong.append(f"exit {self.code}, expected {expected_code}")
        if "Traceback" in self.err:
            wrong.append("a traceback")
        if self.code == 70:
            wrong.append("an internal error")
        if self.code != 0:
            # Inside GitHub Actions the error also comes as an `::error` annotation, after `::add-mask::` lines.
            if len(errors) != 1 or (others and not (actions and all(line.startswith("::") for line in others))):
                wrong.append(f"not exactly one error line: {lines!r}")
            if self.out:
                wrong.append(f"stdout not empty: {self.out[:200]!r}")
            if says is not None and errors and says not in errors[0]:
                wrong.append(f"the message does not say {says!r}")
        if self.code in REFUSALS and self.calls:
            wrong.append(f"{self.calls} cloud calls/connections")
        return wrong


def invoke(argv: list[str], clouds: Clouds, capsys: pytest.CaptureFixture[str]) -> Answer:
    """`opsctl ARGV` in-process, as `main()` runs it (it returns the exit code)."""
    before = clouds.count()
    code = _main(argv)
    captured = capsys.readouterr()
    return Answer(code, captured.out, captured.err, clouds.count() - before)


def materialise(case: Case, folder: Path) -> list[str]:
    """Write the case's config (bytes as given: a case may hold invalid UTF-8) and fill in its argv."""
    folder.mkdir(parents=True, exist_ok=True)
    name = "pyproject.toml" if "@PYPROJECT@" in case.argv else "opsctl.toml"
    path = folder / name
    path.write_bytes(case.config.replace("@WORKDIR@", str(folder)).encode("utf-8", "surrogateescape"))
    return [a.replace("@CONFIG@", str(path)).replace("@PYPROJECT@", str(path)) for a in case.argv]


def invoke_case(
    case: Case, argv: list[str], clouds: Clouds, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Answer:
    """The case's argv in-process, with its env vars set for the call only."""
    with monkeypatch.context() as patch:
        for name, value in case.env.items():
            patch.setenv(name, value)
        return invoke(argv, clouds, capsys)


def test_curated_corpus(
    clouds: Clouds,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    report: Report,
    seed: int,
) -> None:
    cases = CASES
    channels = Channels()
    problems: dict[str, list[str]] = {}
    answers: list[tuple[Case, list[str], Answer]] = []
    for i, case in enumerate(cases):
        argv = materialise(case, tmp_path / f"case-{i}")
        answer = invoke_case(case, argv, clouds, capsys, monkeypatch)
        answers.append((case, argv, answer))
        channels.add("stdout", answer.out)
        channels.add("stderr", answer.err)
        wrong = answer.problems(case.code, case.says, actions=case.env.get("GITHUB_ACTIONS") == "true")
        if wrong:
            problems[case.name] = [*wrong, f"stderr: {answer.err.strip()[:300]!r}"]

    # The same verdicts from real processes, for a sample spread over the corpus.
    rng = random.Random(seed)
    replayable = [a for a in answers if a[0].process]
    sample = rng.sample(replayable, min(SUBPROCESS_SAMPLE, len(replayable)))
    differences = []
    for case, argv, inproc in sample:
        before = clouds.count()
        cli = run_cli(*argv, env=dict(case.env))
        channels.add("stdout (process)", cli.stdout)
        channels.add("stderr (process)", cli.stderr)
        if (cli.code, cli.stdout, cli.stderr, clouds.count()) != (inproc.code, inproc.out, inproc.err, before):
            differences.append(f"{case.name}: process {cli.code} {cli.stderr!r} vs in-process {inproc.code}")

    leaks = channels.leaks(CASE_SECRETS)
    codes = Counter(case.code for case in cases)
    kinds = Counter("config" if case in CONFIG_CASES else "argv" for case in cases)
    calls = sum(a.calls for _, _, a in answers)
    report(
        f"bad input: {len(cases)} curated cases ({kinds['config']} configs, {kinds['argv']} argument sets; "
        f"exit 2: {codes[2]}, 69: {codes[69]}, 77: {codes[77]}, 78: {codes[78]}), {len(problems)} failing the contract, "
        f"{calls} cloud calls, {len(leaks)} secret leaks; {len(sample)} replayed as processes: "
        f"{len(differences)} differences"
    )
    assert not problems, "\n".join(f"{name}: {why}" for name, why in problems.items())
    assert not differences, "\n".join(differences)
    assert not leaks, describe(leaks)


def test_standard_input_parameters_in_a_real_process(tmp_path: Path, clouds: Clouds, report: Report) -> None:
    """`--NAME -` reads standard input: empty, or asked for twice (only a real process has a real stdin)."""
    from tests.reliability.corpus import BASE

    config = tmp_path / "opsctl.toml"
    config.write_text(BASE.replace("@WORKDIR@", str(tmp_path)), encoding="utf-8")
    run = ("--config", str(config), "run", "staging", "cs")
    cases = [
        ((*run, "--username", "ada", "--password", "-"), "", "--password: the value is empty"),
        ((*run, "--username", "-", "--password", "-"), "ada\n", "standard input was already read"),
        ((*run, "--username", "-", "--password", "x"), "Ada Lovelace\n", "--username: 'Ada Lovelace' does not"),
        ((*run, "--username", "ada", "--password", "-"), "pass\0word\n", "--password: the value contains a NUL"),
    ]
    problems = []
    before = clouds.count()
    for argv, stdin, says in cases:
        cli = run_cli(*argv, input=stdin)
        answer = Answer(cli.code, cli.stdout, cli.stderr, 0)
        problems += [f"{argv}: {p}" for p in answer.problems(2, says)]
    calls = clouds.count() - before
    report(f"bad input: {len(cases)} stdin parameter cases as processes, {len(problems)} failing, {calls} cloud calls")
    assert not problems and not calls, problems


# -- generated ----------------------------------------------------------------------------------------------------


def _settings(soak: int) -> Callable[[Any], Any]:
    return settings(
        max_examples=GENERATED * soak,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )


@dataclass
class Tally:
    """Generated inputs by how opsctl answered them."""

    codes: Counter[int]
    problems: list[str]

    def add(self, what: str, answer: Answer) -> None:
        self.codes[answer.code] += 1
        self.problems += [f"{what}: {p}; stderr {answer.err.strip()[:300]!r}" for p in answer.problems(None, None)]
        if answer.code not in (0, 2, 69, 75, 77, 78):
            self.problems.append(f"{what}: undocumented exit {answer.code}")

    def line(self, what: str, n: int) -> str:
        refused = sum(self.codes[c] for c in REFUSALS)
        return (
            f"bad input: {n} generated {what} → {sum(self.codes.values())} invocations, {refused} refused "
            f"({dict(sorted(self.codes.items()))}), {len(self.problems)} failing the contract"
        )


@pytest.fixture
def tally() -> Iterator[Tally]:
    yield Tally(Counter(), [])


def test_generated_configs(
    clouds: Clouds,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    tally: Tally,
    report: Report,
    seed: int,
    soak: int,
) -> None:
    """TOML documents from opsctl's own keys with random values (some with a byte of syntax dropped in), read by
    `tasks`, `envs` and `run ENV TASK --dry-run` (a valid one is planned, never launched)."""
    path = tmp_path / "opsctl.toml"
    examples = 0

    @hypothesis_seed(seed)
    @_settings(soak)
    @given(doc=documents, corruption=corruptions, data=st.data())
    def check(doc: dict[str, Any], corruption: tuple[float, str] | None, data: st.DataObject) -> None:
        nonlocal examples
        examples += 1
        path.write_text(document(doc, corruption), encoding="utf-8")
        envs, tasks = _table(doc, "environments"), _table(doc, "tasks")
        env = data.draw(st.sampled_from([*envs, "local", "nope"]), label="env")
        task = data.draw(st.sampled_from([*tasks, "t"]), label="task")
        declared = [*_table(_table(tasks, task), "params"), "nope"]
        value = st.sampled_from(["ada@example.com", "5", "true", "", "x"])
        drawn = data.draw(st.lists(st.tuples(st.sampled_from(declared), value), max_size=3, unique_by=lambda p: p[0]))
        params = [f"{name}={value}" for name, value in drawn]
        for argv in (
            ["--config", str(path), "tasks"],
            ["--config", str(path), "envs", "-o", "json"],
            ["--config", str(path), "run", env, task, "--dry-run", "--yes", *(f"--param={p}" for p in params)],
        ):
            tally.add(" ".join(argv[2:]), invoke(argv, clouds, capsys))

    check()
    report(tally.line("configs", examples) + "")
    assert not tally.problems, "\n".join(tally.problems[:10])


def _table(data: dict[str, Any], key: str) -> dict[str, Any]:
    """data[key] when that is a table, else an empty one."""
    value = data.get(key)
    return value if isinstance(value, dict) else {}


def test_generated_command_lines(
    clouds: Clouds,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    tally: Tally,
    report: Report,
    seed: int,
    soak: int,
) -> None:
    """Random command lines of opsctl's words against the corpus config; a `run` is always a --dry-run."""
    from tests.reliability.corpus import BASE

    path = tmp_path / "opsctl.toml"
    path.write_text(BASE.replace("@WORKDIR@", str(tmp_path)), encoding="utf-8")
    examples = 0

    @hypothesis_seed(seed)
    @_settings(soak)
    @given(words=argv_words)
    def check(words: list[str]) -> None:
        nonlocal examples
        examples += 1
        if "run" in words:
            words.insert(words.index("run") + 1, "--dry-run")
        argv = ["--config", str(path), *words]
        tally.add(" ".join(words), invoke(argv, clouds, capsys))

    check()
    report(tally.line("command lines", examples) + "")
    assert not tally.problems, "\n".join(tally.problems[:10])
