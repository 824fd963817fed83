"""Whether a message mentions someone: `<at id=…>` for them, or `<at type="all|here">` for everyone."""

from __future__ import annotations

from im_desktop.protocol.elements import Element, Node, parse

__all__ = ["EVERYONE", "MAX_MARKUP", "mentions"]

EVERYONE = ("all", "here")  # Satori's `at` types that address every member
MAX_MARKUP = 64_000  # characters of content looked at: what the view shows of a message comes from no further


def mentions(content: str, user_id: str) -> bool:
    """True if the Satori content mentions `user_id` (an `at` with that id) or everyone; such a message asks
    for attention even in a muted conversation. Bounded like parse(): linear in at most MAX_MARKUP characters."""
    if not isinstance(content, str) or not user_id or "<at" not in content[:MAX_MARKUP].lower():
        return False
    stack: list[Node] = list(parse(content[:MAX_MARKUP]))
    while stack:
        node = stack.pop()
        if not isinstance(node, Element):
            continue
        if node.name == "at" and (node.attr("id") == user_id or node.attr("type") in EVERYONE):
            return True
        stack.extend(node.children)
    return False
