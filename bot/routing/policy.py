"""The routing policy: which conversations are confidential. Loaded from YAML; no I/O here
beyond `load_policy` reading the one file it is given."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bot.routing.sensitive import (
    DEFAULT_CATEGORIES,
    Category,
    CustomPattern,
    DetectorConfig,
)
from bot.routing.sensitive.custom_patterns import BoundedPattern, compile_bounded


class PolicyError(Exception):
    """The policy file cannot be read or is invalid."""


class BuiltinRules(BaseModel):
    """The four built-in confidential kinds. All on by default; each can be switched off."""

    model_config = ConfigDict(extra="forbid")

    direct_messages: bool = True
    private_channels: bool = True
    shared_channels: bool = True
    unknown_channels: bool = True


class CustomPatternRule(BaseModel):
    """An organisation's own sensitive pattern (a Python regular expression)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9_\-]{1,40}$")
    pattern: str
    ignore_case: bool = True

    @model_validator(mode="after")
    def _compiles(self) -> CustomPatternRule:
        compile_bounded(self.pattern, ignore_case=self.ignore_case)
        return self

    def compiled(self) -> BoundedPattern:
        """The pattern, compiled with a deadline on every scan."""
        return compile_bounded(self.pattern, ignore_case=self.ignore_case)


class SensitiveRules(BaseModel):
    """Content detection: categories switched on or off, and custom patterns."""

    model_config = ConfigDict(extra="forbid")

    categories: dict[Category, bool] = Field(default_factory=dict)
    custom_patterns: list[CustomPatternRule] = Field(default_factory=list)

    def detector_config(self) -> DetectorConfig:
        """The detector's configuration: the defaults with this policy's switches applied."""
        enabled = set(DEFAULT_CATEGORIES)
        for category, on in self.categories.items():
            (enabled.add if on else enabled.discard)(category)
        custom = tuple(CustomPattern(rule.name, rule.compiled()) for rule in self.custom_patterns)
        return DetectorConfig(categories=frozenset(enabled), custom=custom)


class Policy(BaseModel):
    """Which conversations and which content route to the self-hosted model."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    confidential_channels: tuple[str, ...] = ()
    builtin: BuiltinRules = Field(default_factory=BuiltinRules)
    sensitive: SensitiveRules = Field(default_factory=SensitiveRules)

    @field_validator("confidential_channels", mode="before")
    @classmethod
    def _check_patterns(cls, value: Any) -> Any:
        if value is None:
            return ()
        if not isinstance(value, list | tuple):
            raise ValueError("must be a list of channel IDs, #names or #globs")
        for item in value:
            if not isinstance(item, str) or not item.strip():
                raise ValueError(f"{item!r} is not a channel ID, #name or #glob")
        return tuple(item.strip() for item in value)

    def with_channels(self, extra: Iterable[str]) -> Policy:
        """This policy with more confidential channel patterns (from CONFIDENTIAL_CHANNELS)."""
        merged = tuple(dict.fromkeys([*self.confidential_channels, *extra]))
        return self.model_copy(update={"confidential_channels": merged})

    @property
    def lists_names(self) -> bool:
        """True when some confidential channels are listed by `#name` or `#glob`."""
        return any(p.startswith("#") for p in self.confidential_channels)

    def lists_channel(self, channel_id: str, name: str | None) -> bool:
        """True when the channel matches a listed ID, `#name` or `#glob` (names ignore case)."""
        for pattern in self.confidential_channels:
            if pattern.startswith("#"):
                if name and fnmatch.fnmatchcase(name.lower(), pattern[1:].lower()):
                    return True
            elif fnmatch.fnmatchcase(channel_id, pattern):
                return True
        return False


def load_policy(path: Path | None, extra_channels: Iterable[str] = ()) -> Policy:
    """Read the policy file (or use the defaults) and add CONFIDENTIAL_CHANNELS."""
    policy = Policy()
    if path is not None:
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise PolicyError(f"POLICY_FILE: cannot read {path}: {exc.strerror}") from None
        except yaml.YAMLError as exc:
            raise PolicyError(f"POLICY_FILE: {path} is not valid YAML: {exc}") from None
        if raw is not None and not isinstance(raw, dict):
            raise PolicyError(f"POLICY_FILE: {path} must hold a mapping at the top level")
        try:
            policy = Policy.model_validate(raw or {})
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc'])}: {e['msg'].removeprefix('Value error, ')}"
                for e in exc.errors()
            )
            raise PolicyError(f"POLICY_FILE: {path}: {problems}") from None
    return policy.with_channels(extra_channels)
