"""Releases: which `version` values the vitals histograms may carry.

Beacons are anonymous, so they never decide which versions exist: a version is known when the config lists
it (`versions`), matches its `pattern`, or was announced by a deploy pipeline (`POST /api/releases`, the
`keep` most recent kept); a beacon's version that is none of these is counted as `other`. With nothing
configured (no versions, no pattern, `enabled` false) there is no `version` label: the default exposition
is unchanged. When on, the vitals histograms get a `version` label and each slab holds keep + 1 version
values (`other` included) per (route, device[, navigation type][, site]): the vitals series multiply by at
most keep + 1.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import Field, field_validator, model_validator

from .base import StrictModel

#: The version of a beacon whose version is not a known release (or that names none).
OTHER_VERSION = "other"
#: A version as a label value: a release id, a semver, a short commit hash, a date.
VERSION_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}$"
_VERSION = re.compile(VERSION_PATTERN)


def check_version(value: str) -> str:
    """A version usable as a label value, or a ValueError saying why not."""
    if not _VERSION.fullmatch(value):
        raise ValueError(f"{value[:80]!r} is not a version: 1 to 64 letters, digits and . _ + - (starting with a "
                         "letter or digit)")
    if value == OTHER_VERSION:
        raise ValueError(f"{OTHER_VERSION!r} is the label of unknown versions; a release cannot be named so")
    return value


class ReleasesConfig(StrictModel):
    # The version label without listing versions here: only POST /api/releases names them.
    enabled: bool = False
    # Versions always known (they count toward `keep`: the most recent are the last listed).
    versions: list[str] = Field(default_factory=list)
    # A regular expression a beacon's version must match in full to be known without being announced. The
    # slab still holds at most `keep` versions: past them, new matching versions are counted as `other`.
    pattern: str | None = None
    # How many versions are kept at once: the `keep` most recent of the listed and announced ones.
    keep: Annotated[int, Field(ge=1, le=100)] = 10
    # How often a worker re-reads the announced releases (releases.sqlite in data_dir).
    refresh_seconds: Annotated[float, Field(ge=0.1, le=300, allow_inf_nan=False)] = 2.0

    @field_validator("versions")
    @classmethod
    def _versions(cls, value: list[str]) -> list[str]:
        for version in value:
            check_version(version)
        if len(set(value)) != len(value):
            raise ValueError("a version is listed twice")
        return value

    @field_validator("pattern")
    @classmethod
    def _pattern(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"{value!r} is not a regular expression: {exc}") from None
        return value

    @model_validator(mode="after")
    def _fits(self) -> ReleasesConfig:
        if len(self.versions) > self.keep:
            raise ValueError(f"{len(self.versions)} versions listed but keep is {self.keep}: raise releases.keep or "
                             "list fewer")
        return self

    @property
    def on(self) -> bool:
        """Whether the vitals histograms carry a `version` label."""
        return self.enabled or bool(self.versions) or self.pattern is not None
