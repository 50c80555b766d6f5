"""The environment a command acts on: its configuration and its provider, closed when the command ends."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from opsctl import config as config_mod
from opsctl import providers
from opsctl.providers import Provider


@contextmanager
def open_target(
    config_path: str | None, env_name: str
) -> Iterator[tuple[config_mod.Config, config_mod.EnvConfig, Provider]]:
    """Load the configuration, find ENV, build its provider; close the provider afterwards."""
    cfg = config_mod.load(config_path)
    env = cfg.environment(env_name)
    provider = providers.build(env)
    try:
        yield cfg, env, provider
    finally:
        provider.close()
