"""`opsctl doctor ENV`: a ✓/✗ checklist with the fix for each ✗; exit 0 only when all pass.

Every provider gives the same shape: the config, then the credentials, then its own checks. A
provider that cannot even be built (no credentials at all) is a failed credentials row, not an error.
"""

from __future__ import annotations

import sys
from contextlib import closing

from opsctl import config as config_mod
from opsctl import providers
from opsctl.console import use_color
from opsctl.errors import EXIT_CHECKS_FAILED, OpsctlError
from opsctl.model import Check
from opsctl.retry import on_stderr

CREDENTIALS = {"ecs": "AWS credentials", "cloudrun": "Google credentials", "local": "credentials"}


def doctor_command(config_path: str | None, env_name: str, no_color: bool) -> int:
    """Check the config, then ask the provider for its checks; print each with its fix."""
    cfg = config_mod.load(config_path)
    env = cfg.environment(env_name)
    checks = [Check(f"config {cfg.path}", True, f"environment {env.name!r}, provider {env.provider}")]
    try:
        provider = providers.build(env)
    except OpsctlError as e:
        detail, _, fix = str(e).partition(" — ")
        checks.append(Check(CREDENTIALS[env.provider], False, detail, fix))
    else:
        with closing(provider):
            tasks = [cfg.task(env, name) for name in cfg.tasks]
            checks += on_stderr()("doctor", lambda: provider.checks(tasks))
    color = use_color(sys.stdout, no_color)
    for check in checks:
        _print(check, color)
    failed = sum(not c.ok for c in checks)
    warned = sum(c.ok and c.warn for c in checks)
    warnings = f" ({warned} with a warning)" if warned else ""
    sys.stderr.write(f"opsctl: {len(checks) - failed} passed{warnings}, {failed} failed\n")
    return 0 if failed == 0 else EXIT_CHECKS_FAILED


def _print(check: Check, color: bool) -> None:
    plain = "✗" if not check.ok else "!" if check.warn else "✓"
    mark = {"✓": "[green]✓[/]", "!": "[yellow]![/]", "✗": "[red]✗[/]"}[plain] if color else plain
    line = f"{mark} {check.name}" + (f" — {check.detail}" if check.detail else "")
    if (not check.ok or check.warn) and check.fix:
        line += f"\n    fix: {check.fix}"
    if color:
        from rich.console import Console

        Console(highlight=False).print(line)
    else:
        sys.stdout.write(line + "\n")
