"""The HMI's shipped files, checked without a browser: translations complete in every
language, every string the pages use translated, nothing fetched from outside the car, no
text hard-coded in the markup."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

HMI = Path(__file__).parents[2] / "src" / "carmesh" / "hmi"
STATIC = HMI / "static"
LANGUAGES = ("en", "zh-CN")
SOURCES = sorted(
    p for p in STATIC.rglob("*") if p.suffix in (".js", ".html", ".css", ".svg") and p.is_file()
)
PLACEHOLDER = re.compile(r"\{(\w+)\}")
#: `t("key"`, `data-i18n="key"`, `…:key` in data-i18n-attr, `settings.x` in templates.
LITERAL_KEYS = [
    re.compile(r"""\bt\(\s*"([\w.\-]+)\""""),
    re.compile(r"""data-i18n="([\w.\-]+)\""""),
    re.compile(r"""(?:aria-label|placeholder|title):([\w.\-]+)(?=[\s"';])"""),
]
#: Keys built at run time: `t(`media.sources.${source}`)` → the branch "media.sources".
TEMPLATE_KEYS = [
    re.compile(r"""\bt\(\s*`([\w.\-]*)\$\{"""),
    re.compile(r"""data-i18n="([\w.\-]*)\$\{"""),
    re.compile(r"""(?:aria-label|placeholder):([\w.\-]*)\$\{"""),
]


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, path + "."))
        else:
            assert isinstance(value, str), f"{path} is not a string"
            out[path] = value
    return out


@pytest.fixture(scope="module")
def translations() -> dict[str, dict[str, str]]:
    return {
        lang: flatten(json.loads((HMI / "i18n" / f"{lang}.json").read_text(encoding="utf-8")))
        for lang in LANGUAGES
    }


def test_every_language_has_the_same_strings_and_placeholders(
    translations: dict[str, dict[str, str]],
) -> None:
    en = translations["en"]
    for lang, strings in translations.items():
        assert set(strings) == set(en), f"{lang}: {sorted(set(strings) ^ set(en))}"
        for key, text in strings.items():
            assert text.strip(), f"{lang}: {key} is empty"
            assert set(PLACEHOLDER.findall(text)) == set(PLACEHOLDER.findall(en[key])), (
                f"{lang}: {key} has other placeholders than en"
            )


def test_every_string_the_pages_use_is_translated(
    translations: dict[str, dict[str, str]],
) -> None:
    keys = translations["en"]
    used: set[str] = set()
    branches: set[str] = set()
    for source in SOURCES:
        text = source.read_text(encoding="utf-8")
        for pattern in LITERAL_KEYS:
            used.update(pattern.findall(text))
        for pattern in TEMPLATE_KEYS:
            branches.update(pattern.findall(text))
    assert len(used) > 50, "the key patterns no longer find the pages' strings"
    missing = sorted(k for k in used if k not in keys)
    assert not missing, f"used but not translated: {missing}"
    for branch in branches:
        assert any(k.startswith(branch) for k in keys), f"no strings under {branch!r}"


def test_nothing_is_fetched_from_outside_the_car() -> None:
    url = re.compile(r"""(?:https?:)?//[\w.-]+\.[a-z]{2,}[/\w.-]*""", re.IGNORECASE)
    for source in SOURCES:
        text = source.read_text(encoding="utf-8")
        found = [
            u
            for u in url.findall(text)
            if u not in ("http://www.w3.org/2000/svg",) and "w3.org/2000/svg" not in u
        ]
        assert not found, f"{source.relative_to(STATIC)} refers to {found}"
        assert "@import" not in text and "@font-face" not in text, source.name


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip and data.strip():
            self.text.append(data.strip())


@pytest.mark.parametrize("page", ["index.html", "cluster.html"])
def test_the_markup_has_no_hard_coded_text(page: str) -> None:
    parser = _Text()
    parser.feed((STATIC / page).read_text(encoding="utf-8"))
    # The <title> is a fallback shown until the strings load; everything else is translated.
    assert parser.text == ["carmesh"], parser.text
