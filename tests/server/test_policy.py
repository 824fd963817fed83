"""Multi-client policies as pure rules: which instances a new login pushes out, and why."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from im_desktop.protocol.errors import ImError
from im_desktop.protocol.models import KickReason, Platform
from im_desktop.server.policy import LoginPolicy, PolicyKind, pick_victims

P = Platform


@dataclass(frozen=True)
class Inst:
    platform: Platform
    device_id: str
    created_at: float


def victims(policy: LoginPolicy, new: Platform, existing: list[Inst], device: str = "new") -> list[tuple[str, str]]:
    return [(v.device_id, r.value) for v, r in pick_victims(policy, new, device, existing)]


ANDROID, LINUX, WEB = Inst(P.ANDROID, "a", 1), Inst(P.LINUX, "l", 2), Inst(P.WEB, "w", 3)


@pytest.mark.parametrize(
    ("kind", "new", "expected"),
    [
        (PolicyKind.SINGLE, P.MAC, [("a", "multi_device"), ("l", "multi_device"), ("w", "multi_device")]),
        (PolicyKind.DUAL, P.MAC, [("a", "multi_device"), ("l", "multi_device")]),
        (PolicyKind.DUAL, P.WEB, [("w", "multi_instance")]),
        (PolicyKind.TRIPLE, P.MAC, [("l", "multi_device")]),
        (PolicyKind.TRIPLE, P.IPHONE, [("a", "multi_device")]),
        (PolicyKind.TRIPLE, P.WEB, [("w", "multi_instance")]),
        (PolicyKind.MULTI, P.MAC, []),
        (PolicyKind.MULTI, P.ANDROID, [("a", "multi_instance")]),
    ],
)
def test_policies_follow_tencents_table(kind: PolicyKind, new: Platform, expected: list[tuple[str, str]]) -> None:
    assert victims(LoginPolicy(kind), new, [ANDROID, LINUX, WEB]) == expected


def test_instance_limit_kicks_the_oldest_on_that_platform() -> None:
    policy = LoginPolicy.from_wire({"policy": "multi", "max_instances": {"Web": 3}})
    tabs = [Inst(P.WEB, f"tab{i}", float(i)) for i in (3, 1, 2)]
    assert victims(policy, P.WEB, tabs) == [("tab1", "multi_instance")]
    assert victims(policy, P.WEB, tabs[:2]) == []


def test_same_device_replaces_its_own_instance_even_under_the_limit() -> None:
    policy = LoginPolicy.from_wire({"policy": "multi", "max_instances": {"Linux": 3}})
    assert victims(policy, P.LINUX, [LINUX], device="l") == [("l", KickReason.MULTI_INSTANCE.value)]


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"policy": "everything"}, "policy must be one of"),
        ({"max_instances": {"Web": 11}}, "from 1 to 10"),
        ({"max_instances": {"Android": 4}}, "from 1 to 3"),
        ({"max_instances": {"Android": 0}}, "from 1 to 3"),
        ({"max_instances": {"Android": True}}, "from 1 to 3"),
        ({"max_instances": {"BeOS": 1}}, "Unknown platform"),
        ({"max_instances": [1]}, "must be an object"),
    ],
)
def test_bad_policies_are_refused(body: dict[str, object], needle: str) -> None:
    with pytest.raises(ImError) as exc:
        LoginPolicy.from_wire(body)
    assert needle in exc.value.message


def test_policy_round_trips_through_the_wire_form() -> None:
    policy = LoginPolicy.from_wire({"policy": "triple", "max_instances": {"Web": 10, "iPad": 2}})
    assert LoginPolicy.from_wire(policy.to_wire()) == policy
