"""What every settings section shares: unknown keys fail, and a validated section never changes."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    """One ``[table]`` of the configuration: a wrong key fails at start naming it; frozen once validated."""

    model_config = ConfigDict(extra="forbid", frozen=True)
