"""The base of every wire type: camelCase aliases accepted by name, unknown fields refused, immutable."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class WireModel(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="forbid", frozen=True)
