"""Collects every user-visible string of the UI into the Qt Linguist .ts sources, keeping translations."""

from __future__ import annotations

import argparse
import ast
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCES = [*sorted((ROOT / "im_desktop" / "ui").glob("*.py")), *sorted((ROOT / "im_desktop" / "desktop").glob("*.py"))]
TRANSLATIONS = ROOT / "resources" / "translations"
MARKERS = {"_tr", "_mark"}  # module helpers that translate in the module's _CONTEXT, or mark for it


def _literal(node: ast.AST | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def collect(path: Path) -> list[tuple[str, str, bool]]:
    """(context, source text, plural) for every translatable string in one module."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    module_context = None
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "_CONTEXT" for t in node.targets):
            module_context = _literal(node.value)
    found: list[tuple[str, str, bool]] = []

    def visit(node: ast.AST, class_name: str | None) -> None:
        for child in ast.iter_child_nodes(node):
            name = child.name if isinstance(child, ast.ClassDef) else class_name
            if isinstance(child, ast.Call):
                func = child.func
                args = child.args
                if isinstance(func, ast.Attribute) and func.attr == "tr" and class_name and args:
                    text = _literal(args[0])
                    if text is not None:
                        found.append((class_name, text, len(args) > 2))
                elif isinstance(func, ast.Attribute) and func.attr == "translate" and len(args) >= 2:
                    context, text = _literal(args[0]), _literal(args[1])
                    if context and text is not None:
                        found.append((context, text, len(args) > 3))
                elif isinstance(func, ast.Name) and func.id in MARKERS and module_context and args:
                    text = _literal(args[0])
                    if text is not None:
                        found.append((module_context, text, len(args) > 1))
            visit(child, name)

    visit(tree, None)
    return found


def all_strings() -> dict[str, dict[str, bool]]:
    strings: dict[str, dict[str, bool]] = {}
    for path in SOURCES:
        for context, text, plural in collect(path):
            strings.setdefault(context, {})[text] = strings.get(context, {}).get(text, False) or plural
    return strings


def read_ts(path: Path) -> dict[tuple[str, str], list[str]]:
    """Existing translations: (context, source) -> translated forms."""
    if not path.exists():
        return {}
    done: dict[tuple[str, str], list[str]] = {}
    for context in ET.parse(path).getroot().iter("context"):  # noqa: S314 - our own file in the repo
        name = context.findtext("name") or ""
        for message in context.iter("message"):
            translation = message.find("translation")
            if translation is None:
                continue
            forms = [f.text or "" for f in translation.iter("numerusform")] or [translation.text or ""]
            if any(forms):
                done[name, message.findtext("source") or ""] = forms
    return done


def write_ts(path: Path, language: str, strings: dict[str, dict[str, bool]]) -> int:
    """Write the .ts; returns how many strings still lack a translation."""
    known = read_ts(path)
    root = ET.Element("TS", version="2.1", language=language)
    missing = 0
    for context_name in sorted(strings):
        context = ET.SubElement(root, "context")
        ET.SubElement(context, "name").text = context_name
        for text, plural in sorted(strings[context_name].items()):
            message = ET.SubElement(context, "message", numerus="yes") if plural else ET.SubElement(context, "message")
            ET.SubElement(message, "source").text = text
            forms = known.get((context_name, text))
            translation = ET.SubElement(message, "translation")
            if not forms:
                translation.set("type", "unfinished")
                missing += 1
            elif plural:
                for form in forms:
                    ET.SubElement(translation, "numerusform").text = form
            else:
                translation.text = forms[0]
    ET.indent(root)
    path.write_text('<?xml version="1.0" encoding="utf-8"?>\n<!DOCTYPE TS>\n' + ET.tostring(root, "unicode") + "\n",
                    encoding="utf-8")  # fmt: skip
    return missing


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("languages", nargs="*", default=["zh_CN"])
    args = parser.parse_args()
    strings = all_strings()
    for language in args.languages:
        missing = write_ts(TRANSLATIONS / f"im_desktop_{language}.ts", language, strings)
        print(f"{language}: {sum(map(len, strings.values()))} strings, {missing} untranslated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
