"""Satori content: escaping plain text, parsing element strings into a tree, and what a person reads."""

from __future__ import annotations

import time

import pytest

from im_desktop.protocol.elements import (
    MAX_ATTRIBUTE_CHARS,
    MAX_ATTRIBUTES,
    MAX_DEPTH,
    Element,
    Text,
    escape,
    parse,
    to_plain_text,
)


def test_escape_covers_the_four_characters_and_nothing_else() -> None:
    assert escape('a < b & "c" > d') == "a &lt; b &amp; &quot;c&quot; &gt; d"
    assert escape("&amp;") == "&amp;amp;"  # what the user typed is text, even if it looks like an entity
    assert escape("it's\nfine 😀") == "it's\nfine 😀"


@pytest.mark.parametrize("typed", ['a < b & "c" > d', "&amp; &#65; &lt;b&gt;", "<b>not bold</b>", "<", "&", "x\ny"])
def test_escaped_text_reads_back_as_typed(typed: str) -> None:
    assert to_plain_text(escape(typed)) == typed
    assert parse(escape(typed)) == [Text(typed)]


def test_parse_builds_a_tree_of_elements_and_decoded_text() -> None:
    content = 'hi <b>bold <i>both</i></b> <a href="https://x/?a=1&amp;b=2">link</a><br/><at id="7" name="Al"/>'
    assert parse(content) == [
        Text("hi "),
        Element("b", {}, (Text("bold "), Element("i", {}, (Text("both"),)))),
        Text(" "),
        Element("a", {"href": "https://x/?a=1&b=2"}, (Text("link"),)),
        Element("br"),
        Element("at", {"id": "7", "name": "Al"}),
    ]


def test_attribute_forms() -> None:
    (video,) = parse("<video src='v.mp4' autoplay TITLE=\"&quot;x&quot;\" loop=yes/>")
    assert video == Element("video", {"src": "v.mp4", "autoplay": True, "title": '"x"', "loop": "yes"})
    assert isinstance(video, Element) and video.attr("autoplay") == "" and video.attr("src") == "v.mp4"
    assert parse("<a href=http://x/y/>") == [Element("a", {"href": "http://x/y"})]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("a &amp; b &lt;c&gt; &quot;d&quot; &apos;e&apos;", "a & b <c> \"d\" 'e'"),
        ("&#65;&#x42;&#X43;&#0128512;", "ABC😀"),
        ("&#0;|&#xD800;|&#x110000;|&#99999999999;", "\ufffd|\ufffd|\ufffd|\ufffd"),  # invalid code points
        ("&nbsp; &AMP; &#; &#x; &amp & ;", "&nbsp; &AMP; &#; &#x; &amp & ;"),  # not entities: text as it is
        ("&#" + "9" * 20 + ";", "&#" + "9" * 20 + ";"),  # too many digits: never handed to int()
    ],
)
def test_entities(content: str, expected: str) -> None:
    assert to_plain_text(content) == expected


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("line<br/>next<br/>", "line\nnext\n"),
        ("<p>one</p><p>two</p>three", "one\ntwo\nthree"),
        ("before<message>forwarded</message>after", "before\nforwarded\nafter"),
        ('<quote id="m1"><author name="Bob"/>first<br/>second</quote>my answer', "> Bob: first\n> second\nmy answer"),
        ('<quote id="m1"/>just a reply', "just a reply"),
        ('<at id="7" name="Alice"/> <at id="8"/> <at type="all"/> <at type="here"/>', "@Alice @8 @all @here"),
        ('<sharp id="c1" name="general"/> <sharp id="c2"/>', "#general #c2"),
        ('<a href="https://example.org">the site</a> <a href="https://example.org"/>', "the site https://example.org"),
        (
            '<img src="http://127.0.0.1:9/x.png"/><audio src="a"/><video src="v"/><file src="f"/>',
            "[image][audio][video][file]",
        ),
        ('<emoji id="1" name="smile"/> <emoji id="2">🙂</emoji> <emoji id="3"/>', ":smile: 🙂 [emoji]"),
        ("<b>b</b><strong>s</strong><i>i</i><em>e</em><u>u</u><ins>n</ins><s>s</s><del>d</del>", "bsieunsd"),
        ("<spl>secret</spl> <code>x &lt; y</code> x<sup>2</sup>H<sub>2</sub>O", "secret x < y x2H2O"),
        ('<button id="b1" type="action">Click</button>', "[Click]"),
        ("<x-unknown kind='y'>inner <b>text</b></x-unknown>", "inner text"),
        ("<platform:face id='1'>smile</platform:face>", "smile"),
    ],
)
def test_what_a_person_reads(content: str, expected: str) -> None:
    assert to_plain_text(content) == expected


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("a < b & c > d", "a < b & c > d"),  # bare < and & are text
        ("1 <2 and x<y>z", "1 <2 and xz"),  # <y> is a well-formed (unknown) tag; <2 is not a tag
        ("<b>unclosed <i>twice", "unclosed twice"),
        ("<b><i>crossed</b> after</i>", "crossed after"),
        ("</p>stray closing", "stray closing"),
        ('<b attr="no end', '<b attr="no end'),
        ('<b x="a<b">t</b>', '<b x="a<b">t'),  # a raw < inside a quoted value: not a tag
        ("<script>alert(1)</script>", "alert(1)"),
        ("<img src=x onerror=alert(1)>caption", "[image]caption"),
        ("<!-- a comment -->", "<!-- a comment -->"),
        ("nul\x00byte &#0;", "nul\ufffdbyte \ufffd"),
        ("lone \ud800 surrogate \udfff", "lone \ufffd surrogate \ufffd"),
        ("<\u202eevil>rtl", "<\u202eevil>rtl"),  # not a tag name: text, shown literally (plain text only)
    ],
)
def test_broken_and_hostile_content_is_text(content: str, expected: str) -> None:
    assert to_plain_text(content) == expected


def test_the_tree_keeps_unclosed_and_crossed_tags_balanced() -> None:
    assert parse("<b><i>x</b>y") == [Element("b", {}, (Element("i", {}, (Text("x"),)),)), Text("y")]
    assert parse("<b>open") == [Element("b", {}, (Text("open"),))]
    assert parse("a</b>b") == [Text("ab")]


def test_deep_nesting_is_flattened_below_the_depth_limit() -> None:
    depth = 100_000
    nodes = parse("<b>" * depth + "deep" + "</b>" * depth + "after")
    level, node = 0, nodes[0]
    while isinstance(node, Element):
        level += 1
        assert node.name == "b" and len(node.children) == 1
        node = node.children[0]
    assert (level, node) == (MAX_DEPTH, Text("deep"))
    assert nodes[1:] == [Text("after")]
    # Closing tags of the dropped levels do not close the kept ones early.
    assert to_plain_text("<i>" * (MAX_DEPTH + 5) + "x" + "</i>" * (MAX_DEPTH + 4) + "y</i>z") == "xyz"


def test_attribute_bounds() -> None:
    (img,) = parse('<img src="' + "x" * (1024 * 1024) + '" alt="ok"/>')
    assert img == Element("img", {"alt": "ok"})  # the megabyte value is dropped, the element stays
    (kept,) = parse('<img src="' + "x" * MAX_ATTRIBUTE_CHARS + '"/>')
    assert isinstance(kept, Element) and len(kept.attr("src")) == MAX_ATTRIBUTE_CHARS
    (many,) = parse("<b " + " ".join(f"a{i}" for i in range(1000)) + ">x</b>")
    assert isinstance(many, Element) and list(many.attrs) == [f"a{i}" for i in range(MAX_ATTRIBUTES)]
    assert to_plain_text('<img src="' + "x" * (1024 * 1024) + '"/>') == "[image]"


HUGE = 1_000_000  # a quadratic parser would spend minutes on each of these; a linear one well under a second
ALL_TEXT = -1  # the whole input is text (nothing in it is a tag)


@pytest.mark.parametrize(
    ("content", "plain_length"),
    [
        pytest.param("<" * HUGE, ALL_TEXT, id="bare <"),
        pytest.param("&" * HUGE, ALL_TEXT, id="bare &"),
        pytest.param('<a x="' * (HUGE // 6), ALL_TEXT, id="unclosed quotes"),
        pytest.param("<a" * (HUGE // 2), ALL_TEXT, id="tags that never end"),
        pytest.param(("<b " + "x " * 1000) * (HUGE // 2003), ALL_TEXT, id="attributes without an end"),
        pytest.param("<a x=\"<a y='" * (HUGE // 12), ALL_TEXT, id="mixed quotes"),
        pytest.param("&#" + "9" * HUGE + ";", ALL_TEXT, id="a megabyte of digits"),
        pytest.param("</b>" * (HUGE // 4), 0, id="stray closing tags"),
        pytest.param("<b x='1'>" * (HUGE // 9), 0, id="nested opens"),
        pytest.param("<b><i>" * (HUGE // 6) + "</b>" * (HUGE // 4), 0, id="crossed closes"),
        pytest.param("&amp;" * (HUGE // 5), HUGE // 5, id="entities"),
    ],
)
def test_parsing_is_linear_on_hostile_input(content: str, plain_length: int) -> None:
    started = time.monotonic()
    text = to_plain_text(content)
    elapsed = time.monotonic() - started
    assert len(text) == (len(content) if plain_length == ALL_TEXT else plain_length)
    assert elapsed < 20  # megabyte inputs: a quadratic parser takes minutes here, this one about a second
