"""Satori message content: escaping plain text, and a bounded parser of element strings into a small tree."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TypeAlias

__all__ = [
    "MAX_ATTRIBUTES",
    "MAX_ATTRIBUTE_CHARS",
    "MAX_DEPTH",
    "Element",
    "Node",
    "Text",
    "decode_entities",
    "escape",
    "parse",
    "plain_text",
    "to_plain_text",
]

MAX_DEPTH = 32  # deeper elements are dropped and their text joins the deepest kept element
MAX_ATTRIBUTE_CHARS = 4096  # a longer value is dropped (the element stays), so nobody keeps a megabyte `src`
MAX_ATTRIBUTES = 32  # per element; later ones are dropped
_REPLACEMENT = "\ufffd"

_NAMED = {"amp": "&", "lt": "<", "gt": ">", "quot": '"', "apos": "'"}
# Digit runs are bounded so int() never sees a megabyte of digits; a longer run stays literal text.
_ENTITY = re.compile(r"&(?:#([0-9]{1,16})|#[xX]([0-9a-fA-F]{1,16})|(amp|lt|gt|quot|apos));")
# NUL and lone surrogates cannot be shown or encoded as UTF-8; they become U+FFFD before anything else.
_UNSAFE = re.compile("[\x00\ud800-\udfff]")
_TAG_OPEN = re.compile(r"<(/?)([A-Za-z_][A-Za-z0-9_:.-]{0,63})(?=[\s/>])")
# A quoted value may not contain a raw `<` (escapers write `&lt;`): every attempt to read a tag then stops at
# the next `<`, which keeps the parser linear however many broken tags there are.
# An unquoted value does not end in `/`, so `<img src=a.png/>` closes itself.
_ATTR = re.compile(
    r"""\s+([^\s=/>"'<&]{1,64})(?:\s*=\s*(?:"([^"<]*)"|'([^'<]*)'|([^\s"'=<>`/]+(?:/+[^\s"'=<>`/]+)*)))?"""
)
_TAG_END = re.compile(r"\s*(/?)>")


@dataclass(frozen=True, slots=True)
class Text:
    """Decoded text: entities already replaced, safe to show only as plain text."""

    text: str


@dataclass(frozen=True, slots=True)
class Element:
    """An element: a lower-case name, decoded attributes (True for a bare attribute), and children."""

    name: str
    attrs: dict[str, str | bool] = field(default_factory=dict)
    children: tuple[Node, ...] = ()

    def attr(self, key: str) -> str:
        """The attribute as text, or "" when absent or bare."""
        value = self.attrs.get(key)
        return value if isinstance(value, str) else ""


Node: TypeAlias = Text | Element


def escape(text: str) -> str:
    """Plain text as Satori content: `&`, `<`, `>` and `"` escaped, nothing else touched."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def _entity(match: re.Match[str]) -> str:
    decimal, hexadecimal, name = match.groups()
    if name is not None:
        return _NAMED[name]
    point = int(decimal) if decimal is not None else int(hexadecimal, 16)
    if point == 0 or 0xD800 <= point <= 0xDFFF or point > 0x10FFFF:
        return _REPLACEMENT
    return chr(point)


def decode_entities(text: str) -> str:
    """Named (amp, lt, gt, quot, apos), decimal and hex entities decoded; anything else left as it is."""
    return _ENTITY.sub(_entity, text) if "&" in text else text


@dataclass(slots=True)
class _Open:
    name: str
    attrs: dict[str, str | bool]
    children: list[Node]

    def add(self, node: Node) -> None:
        if isinstance(node, Text) and self.children and isinstance(self.children[-1], Text):
            self.children[-1] = Text(self.children[-1].text + node.text)
        else:
            self.children.append(node)

    def close(self) -> Element:
        return Element(self.name, self.attrs, tuple(self.children))


def _read_tag(s: str, start: int) -> tuple[bool, str, dict[str, str | bool], bool, int] | None:
    """(closing, name, attrs, self-closing, end) of a well-formed tag at `start`, or None (then `<` is text)."""
    match = _TAG_OPEN.match(s, start)
    if match is None:
        return None
    closing, name, pos = match.group(1) == "/", match.group(2).lower(), match.end()
    attrs: dict[str, str | bool] = {}
    while (attr := _ATTR.match(s, pos)) is not None:
        if closing:
            return None
        pos = attr.end()
        key = attr.group(1).lower()
        raw = next((g for g in attr.group(2, 3, 4) if g is not None), None)
        if (raw is not None and len(raw) > MAX_ATTRIBUTE_CHARS) or len(attrs) >= MAX_ATTRIBUTES:
            continue
        attrs.setdefault(key, True if raw is None else decode_entities(raw))
    end = _TAG_END.match(s, pos)
    if end is None or (closing and end.group(1)):
        return None
    return closing, name, attrs, bool(end.group(1)), end.end()


def parse(content: str) -> list[Node]:
    """Satori content as a list of nodes. Never raises and runs in linear time on any input: a `<` or `&`
    that does not start a tag or an entity is text, unclosed elements end with the content, a stray
    closing tag is dropped, and nesting deeper than MAX_DEPTH is flattened into its deepest kept element."""
    s = _UNSAFE.sub(_REPLACEMENT, content)
    root = _Open("", {}, [])
    stack = [root]
    overflow: list[str] = []  # names of the elements opened past MAX_DEPTH, so their closing tags match
    pending: list[str] = []  # raw text since the last tag, decoded in one go

    def flush() -> None:
        text = "".join(pending)
        pending.clear()
        if text:
            stack[-1].add(Text(decode_entities(text)))

    def close_to(depth: int) -> None:
        while len(stack) > depth:
            element = stack.pop().close()
            stack[-1].add(element)

    pos, size = 0, len(s)
    while pos < size:
        lt = s.find("<", pos)
        if lt < 0:
            pending.append(s[pos:])
            break
        if lt > pos:
            pending.append(s[pos:lt])
        tag = _read_tag(s, lt)
        if tag is None:
            pending.append("<")
            pos = lt + 1
            continue
        closing, name, attrs, empty, pos = tag
        flush()
        if not closing:
            if overflow or len(stack) > MAX_DEPTH:
                if not empty:
                    overflow.append(name)
            elif empty:
                stack[-1].add(Element(name, attrs))
            else:
                stack.append(_Open(name, attrs, []))
        elif overflow and overflow[-1] == name:
            overflow.pop()
        else:
            # The nearest open element of that name closes, and with it any left open inside it.
            depth = next((i for i in range(len(stack) - 1, 0, -1) if stack[i].name == name), 0)
            if depth:
                overflow.clear()
                close_to(depth)
    flush()
    close_to(1)
    return root.children


_MEDIA = {"img": "[image]", "image": "[image]", "audio": "[audio]", "video": "[video]", "file": "[file]"}
_BLOCKS = {"p", "message"}


class _Writer:
    """Plain text with block elements on lines of their own (no blank lines between blocks)."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self._break = False

    def text(self, text: str) -> None:
        if not text:
            return
        if self._break and self.parts and not self.parts[-1].endswith("\n"):
            self.parts.append("\n")
        self._break = False
        self.parts.append(text)

    def newline(self) -> None:
        self.parts.append("\n")
        self._break = False

    def block(self) -> None:
        self._break = True

    def value(self) -> str:
        return "".join(self.parts)


def plain_text(nodes: tuple[Node, ...] | list[Node]) -> str:
    """What a person should read for these nodes (see to_plain_text)."""
    out = _Writer()
    for node in nodes:
        _write(node, out)
    return out.value()


def _write(node: Node, out: _Writer) -> None:
    if isinstance(node, Text):
        out.text(node.text)
        return
    name = node.name
    if name == "br":
        out.newline()
    elif name in _BLOCKS:
        out.block()
        for child in node.children:
            _write(child, out)
        out.block()
    elif name == "quote":
        inner = plain_text(node.children)
        out.block()
        out.text("\n".join("> " + line for line in inner.split("\n")) if inner else "")
        out.block()
    elif name == "at":
        kind = node.attr("type")
        who = kind if kind in ("all", "here") else node.attr("name") or plain_text(node.children) or node.attr("id")
        out.text("@" + (who or node.attr("role")))
    elif name == "sharp":
        out.text("#" + (node.attr("name") or plain_text(node.children) or node.attr("id")))
    elif name == "a":
        out.text(plain_text(node.children) or node.attr("href"))
    elif name in _MEDIA:
        out.text(_MEDIA[name])
        out.text(plain_text(node.children))  # whatever an unclosed media tag swallowed is still read
    elif name == "emoji":
        emoji = node.attr("name")
        out.text(f":{emoji}:" if emoji else plain_text(node.children) or "[emoji]")
    elif name == "author":
        author = node.attr("name") or node.attr("id")
        out.text(f"{author}: " if author else "")
    elif name == "button":
        label = plain_text(node.children)
        out.text(f"[{label}]" if label else "")
    else:  # formatting (b, i, u, s, code, spl, sup, sub, ...) and unknown elements: their text
        for child in node.children:
            _write(child, out)


def to_plain_text(content: str) -> str:
    """Satori content as a person should read it: entities decoded, br as a newline, p/message/quote on
    lines of their own (quotes prefixed "> "), mentions as @name / #channel, links as their text (the
    address when there is none), media as [image]/[audio]/[video]/[file] (never fetched), emoji as :name:,
    and any other element as its text. The result is for plain-text display only."""
    return plain_text(parse(content))
