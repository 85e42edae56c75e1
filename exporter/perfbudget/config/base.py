"""The base of every configuration model: strict, frozen, unknown keys rejected."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    """Unknown keys are errors; values are not coerced across types; a loaded config never changes."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=False, populate_by_name=False)
