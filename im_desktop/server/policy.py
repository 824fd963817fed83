"""Multi-client login policies: who may stay online when another instance of the same user logs in."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from im_desktop.protocol.errors import ErrorCode, ImError
from im_desktop.protocol.models import KickReason, Platform

__all__ = ["MAX_INSTANCE_CAP", "LoginPolicy", "PolicyKind", "pick_victims"]

# Tencent's ceilings for "Max Login Instances per User per Platform".
MAX_INSTANCE_CAP: Mapping[Platform, int] = {p: (10 if p is Platform.WEB else 3) for p in Platform}


class PolicyKind(enum.StrEnum):
    """Tencent's four multi-platform policies."""

    SINGLE = "single"  # one platform at a time
    DUAL = "dual"  # one non-web platform, plus web
    TRIPLE = "triple"  # one mobile, one desktop, plus web
    MULTI = "multi"  # every platform at once


def _default_limits() -> dict[Platform, int]:
    return dict.fromkeys(Platform, 1)


@dataclass(frozen=True, slots=True)
class LoginPolicy:
    """A policy and the per-platform instance limits (default 1, as Tencent's default)."""

    kind: PolicyKind = PolicyKind.SINGLE
    max_instances: Mapping[Platform, int] = field(default_factory=_default_limits)

    @classmethod
    def from_wire(cls, body: Mapping[str, object]) -> LoginPolicy:
        """Build a policy from `{"policy": ..., "max_instances": {platform: n}}`, rejecting bad input."""
        try:
            kind = PolicyKind(str(body.get("policy", PolicyKind.SINGLE)))
        except ValueError:
            names = ", ".join(k.value for k in PolicyKind)
            raise ImError(ErrorCode.ACCOUNT_INVALID_PARAMETERS, f"policy must be one of: {names}.") from None
        raw_limits = body.get("max_instances", {})
        if not isinstance(raw_limits, dict):
            raise ImError(ErrorCode.ACCOUNT_INVALID_PARAMETERS, "max_instances must be an object.")
        limits = _default_limits()
        for name, value in raw_limits.items():
            try:
                platform = Platform(name)
            except ValueError:
                raise ImError(ErrorCode.ACCOUNT_INVALID_PARAMETERS, f"Unknown platform {name!r}.") from None
            cap = MAX_INSTANCE_CAP[platform]
            if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= cap:
                raise ImError(
                    ErrorCode.ACCOUNT_INVALID_PARAMETERS,
                    f"max_instances for {platform.value} must be a whole number from 1 to {cap}.",
                )
            limits[platform] = value
        return cls(kind, limits)

    def to_wire(self) -> dict[str, object]:
        return {"policy": self.kind.value, "max_instances": {p.value: n for p, n in self.max_instances.items()}}

    def conflicts(self, new: Platform, existing: Platform) -> bool:
        """True when an instance on `existing` may not stay online next to a new one on `new`."""
        if new is existing or self.kind is PolicyKind.MULTI:
            return False
        if self.kind is PolicyKind.SINGLE:
            return True
        if self.kind is PolicyKind.DUAL:
            return Platform.WEB not in (new, existing)
        return new.group == existing.group


class Instance(Protocol):
    """What the policy needs to know of an online instance."""

    @property
    def platform(self) -> Platform: ...

    @property
    def device_id(self) -> str: ...

    @property
    def created_at(self) -> float: ...


T = TypeVar("T", bound=Instance)


def pick_victims(
    policy: LoginPolicy, platform: Platform, device_id: str, existing: Iterable[T]
) -> list[tuple[T, KickReason]]:
    """The instances a new login on (platform, device_id) pushes out, oldest first, with the reason."""
    victims: list[tuple[T, KickReason]] = []
    same_platform: list[T] = []
    for inst in sorted(existing, key=lambda i: i.created_at):
        if inst.platform is platform and inst.device_id == device_id:
            # The same device logging in again replaces its own old instance (a restart after a crash).
            victims.append((inst, KickReason.MULTI_INSTANCE))
        elif policy.conflicts(platform, inst.platform):
            victims.append((inst, KickReason.MULTI_DEVICE))
        elif inst.platform is platform:
            same_platform.append(inst)
    overflow = len(same_platform) + 1 - policy.max_instances[platform]
    victims.extend((inst, KickReason.MULTI_INSTANCE) for inst in same_platform[: max(overflow, 0)])
    return victims
