"""The README is the user's manual: every configuration key and every CLI command is documented there."""

from __future__ import annotations

from pydantic import BaseModel

from arbflow.cli import app
from arbflow.settings import Settings
from tests.core.conftest import REPO

README = (REPO / "README.md").read_text()


def _keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    keys = []
    for name, field in model.model_fields.items():
        kind = field.annotation
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            keys += _keys(kind, f"{prefix}{name}.")
        else:
            keys.append(f"{prefix}{name}")
    return keys


def test_every_config_key_is_documented() -> None:
    missing = [k for k in _keys(Settings) if k != "venues" and f"`{k}`" not in README]
    assert "`venues.<id>.taker_fee_bps`" in README
    assert missing == []


def test_every_command_and_the_two_setup_commands_are_documented() -> None:
    names = [c.name or c.callback.__name__ for c in app.registered_commands]
    assert [n for n in names if f"arbflow {n}" not in README] == []
    assert "make run" in README and "make test" in README
