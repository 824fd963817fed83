"""The UserID rule of the seed: up to 32 bytes of a-z A-Z 0-9 _ -."""

from __future__ import annotations

import pytest

from im_desktop.protocol.errors import ErrorCode, ImError
from im_desktop.protocol.models import Platform, check_user_id


@pytest.mark.parametrize("user_id", ["a", "A-z_09", "x" * 32])
def test_valid_user_ids_pass(user_id: str) -> None:
    assert check_user_id(user_id) == user_id


@pytest.mark.parametrize(
    ("user_id", "needle"),
    [
        ("x" * 33, "longer than 32 bytes"),
        ("é" * 17, "longer than 32 bytes"),
        ("é", "may only contain"),
        ("a b", "may only contain"),
        ("a/b", "may only contain"),
        ("", "required"),
        (None, "required"),
        (42, "required"),
    ],
)
def test_bad_user_ids_get_a_clear_error(user_id: object, needle: str) -> None:
    with pytest.raises(ImError) as exc:
        check_user_id(user_id)
    assert exc.value.code is ErrorCode.ACCOUNT_INVALID_PARAMETERS
    assert needle in exc.value.message


def test_platform_groups_follow_tencents_policies() -> None:
    assert {p.group for p in (Platform.WINDOWS, Platform.MAC, Platform.LINUX)} == {"desktop"}
    assert {p.group for p in (Platform.ANDROID, Platform.IPHONE, Platform.IPAD)} == {"mobile"}
    assert Platform.WEB.group == "web"
