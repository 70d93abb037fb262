"""Reading the settings: the shipped defaults, the user's file over them, then ``ARBFLOW__`` environment overrides."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from arbflow.errors import ConfigError
from arbflow.settings.model import Settings
from connectors.resources import DEFAULT_CONFIG

ENV_PREFIX = "ARBFLOW__"


def _apply_env(data: dict[str, Any], environ: dict[str, str]) -> dict[str, Any]:
    """``ARBFLOW__CROSS__MIN_NET_EDGE_BPS=25`` overrides ``[cross] min_net_edge_bps``; values parse as TOML."""
    for name, raw in sorted(environ.items()):
        if not name.startswith(ENV_PREFIX):
            continue
        path = [p.lower() for p in name[len(ENV_PREFIX) :].split("__")]
        try:
            value = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw
        node = data
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = value
    return data


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Tables merge key by key (``[venues.binance]`` alone keeps okx and htx); any other value replaces the default."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text())
    except FileNotFoundError:
        msg = f"config file {path} does not exist"
        raise ConfigError(msg) from None
    except tomllib.TOMLDecodeError as exc:
        msg = f"config file {path} is not valid TOML: {exc}"
        raise ConfigError(msg) from None


def _problem(err: Any) -> str:
    """``source.batch_rows: Input should be ...``; a whole-config check has no field, so only its message."""
    where = ".".join(str(p) for p in err["loc"])
    text = err["msg"].removeprefix("Value error, ")
    return f"{where}: {text}" if where else text


def load_settings(path: str | Path | None = None, environ: dict[str, str] | None = None) -> Settings:
    """Read the defaults, merge the user's file over them table by table, apply the environment, validate.

    Raises ConfigError naming the offending key (every problem, not only the first).
    """
    data = _read_toml(DEFAULT_CONFIG)
    path = Path(path) if path else DEFAULT_CONFIG
    if path.resolve() != DEFAULT_CONFIG.resolve():
        data = _merge(data, _read_toml(path))
    data = _apply_env(data, dict(os.environ) if environ is None else environ)
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(_problem(err) for err in exc.errors(include_url=False))
        msg = f"invalid configuration in {path} (or ARBFLOW__ env overrides): {problems}"
        raise ConfigError(msg) from None
