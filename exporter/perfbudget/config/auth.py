"""API tokens for the webhook, every write endpoint and, when anonymous reads are off, the reads."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator

from .base import StrictModel

Scope = Literal["webhook", "execute", "reload", "read"]
ALL_SCOPES: tuple[Scope, ...] = ("webhook", "execute", "reload", "read")


class Token(StrictModel):
    name: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
    token: SecretStr
    scopes: list[Scope] = Field(default_factory=lambda: list(ALL_SCOPES))

    @field_validator("token")
    @classmethod
    def _long_enough(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value()) < 16:
            raise ValueError("a token must be at least 16 characters")
        return value


class AuthConfig(StrictModel):
    # PERFBUDGET_API_TOKEN adds a token named "env" with every scope.
    tokens: list[Token] = Field(default_factory=list)
    # Basic authorization for the Alertmanager webhook only (Alertmanager's http_config.basic_auth): the
    # password is checked against the tokens with the "webhook" scope, the username is recorded. Every other
    # endpoint takes bearer tokens only: a browser replays cached Basic credentials on its own.
    allow_basic: bool = True
    # true (the default, for the quick start): anyone may read the summary, the playbooks, the runs (without
    # secrets, addresses or internals) and the console; false: those need a token with the "read" scope.
    # A token with "read" always sees a run's full detail.
    anonymous_reads: bool = True
