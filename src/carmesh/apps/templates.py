"""App UI templates: the only UI an app can show, as data the car validates and trims.

A template is a JSON object with a ``type`` (``list``, ``grid``, ``pane``, ``message``,
``navigation``, ``search``); the schema is ``docs/apps.md`` (section "Templates"). Apps build
them with the models below (``carmesh.sdk`` re-exports them) or send plain JSON;
:func:`parse_template` is the one gate both pass through in the car.

Limits that hold always: texts are a string or ``{"en": …, "zh-CN": …}``; titles, labels and
other short texts at most :data:`TITLE_LENGTH` characters, longer texts at most
:data:`TEXT_LENGTH`; ids (and icon names) match :data:`ID_PATTERN`; at most :data:`MAX_ITEMS`
items or results, :data:`MAX_ACTIONS` actions (:data:`MAX_PANE_ACTIONS` on a pane) and
:data:`MAX_ROWS` pane rows; item ids and action ids are each unique within a template; no
field beyond the schema.

:func:`trim` applies the driver-distraction :class:`~carmesh.rules.distraction.Rules` in
force: lists, grids and search results are cut to ``max_list_items``, every text to
``max_text_length`` characters (ending in "…"), and without ``text_entry`` a ``search``
template becomes a ``message`` saying search is unavailable while driving. What it returns
is itself a valid template.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeAlias, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    model_validator,
)
from pydantic_core import PydanticCustomError

from carmesh.errors import InvalidArgument

if TYPE_CHECKING:  # apps import this module through carmesh.sdk: keep the broker out
    from carmesh.rules.distraction import Rules

__all__ = [
    "ID_PATTERN",
    "LANGUAGES",
    "MAX_ACTIONS",
    "MAX_ITEMS",
    "MAX_PANE_ACTIONS",
    "MAX_ROWS",
    "SELECT",
    "TEMPLATE_TYPES",
    "TEXT_LENGTH",
    "TITLE_LENGTH",
    "Action",
    "GridItem",
    "GridTemplate",
    "Item",
    "ListTemplate",
    "MessageTemplate",
    "NavigationTemplate",
    "PaneTemplate",
    "Row",
    "SearchResult",
    "SearchTemplate",
    "Template",
    "Text",
    "cut_text",
    "parse_template",
    "template_json",
    "trim",
]

#: Languages a text may be given in.
LANGUAGES = ("en", "zh-CN")
#: Longest title, label, placeholder or other short text (characters).
TITLE_LENGTH = 80
#: Longest item text, row value or message (characters).
TEXT_LENGTH = 500
#: Most items of a list or grid, and most search results.
MAX_ITEMS = 100
#: Most actions of a template; a pane has at most :data:`MAX_PANE_ACTIONS`.
MAX_ACTIONS = 4
MAX_PANE_ACTIONS = 2
#: Most rows of a pane.
MAX_ROWS = 20
#: Ids of items and actions, and icon names.
ID_PATTERN = r"^[A-Za-z0-9_.-]{1,64}$"
#: The action the HMI reports when the user taps an item (list, grid, search result) itself.
SELECT = "select"
#: What a text is cut to end with.
ELLIPSIS = "…"

TextT = TypeVar("TextT", str, dict[str, str])

#: A text: one string for every language, or one per language (``{"en": …, "zh-CN": …}``).
Text: TypeAlias = str | dict[str, str]


def _text_check(limit: int) -> PlainValidator:
    def check(value: Any) -> Text:
        if isinstance(value, str):
            if len(value) > limit:
                raise PydanticCustomError(
                    "text_too_long", "is longer than {limit} characters", {"limit": limit}
                )
            return value
        if isinstance(value, dict):
            if not value:
                raise PydanticCustomError(
                    "text_no_language", "gives no language; use 'en' and 'zh-CN'"
                )
            for language, text in value.items():
                if language not in LANGUAGES:
                    raise PydanticCustomError(
                        "text_language",
                        "has the unknown language {language}; use 'en' and 'zh-CN'",
                        {"language": _short(language)},
                    )
                if not isinstance(text, str):
                    raise PydanticCustomError(
                        "text_type", "must hold a string for {language}", {"language": language}
                    )
                if len(text) > limit:
                    raise PydanticCustomError(
                        "text_too_long",
                        "is longer than {limit} characters in {language}",
                        {"limit": limit, "language": language},
                    )
            return dict(value)
        raise PydanticCustomError("text_type", 'must be a string or {"en": "…", "zh-CN": "…"}', {})

    return PlainValidator(check, json_schema_input_type=str | dict[str, str])


#: A short text (titles, labels, placeholders): at most :data:`TITLE_LENGTH` characters.
Title = Annotated[Text, _text_check(TITLE_LENGTH)]
#: A longer text (item texts, row values, messages): at most :data:`TEXT_LENGTH` characters.
Body = Annotated[Text, _text_check(TEXT_LENGTH)]
#: An item or action id, or an icon name.
Id = Annotated[str, StringConstraints(pattern=ID_PATTERN)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Action(_Model):
    """A button: the HMI reports ``{"action": id, "item": null}`` when it is tapped."""

    id: Id
    label: Title


class Item(_Model):
    """A list row; tapping it reports ``{"action": "select", "item": id}``."""

    id: Id
    title: Title
    text: Body | None = None
    icon: Id | None = None


class GridItem(_Model):
    """A grid tile; tapping it reports ``{"action": "select", "item": id}``."""

    id: Id
    title: Title
    icon: Id | None = None


class Row(_Model):
    """A label and its value on a pane."""

    label: Title
    value: Body


class SearchResult(_Model):
    """A search result; tapping it reports ``{"action": "select", "item": id}``."""

    id: Id
    title: Title
    text: Body | None = None


def _unique(kind: str, ids: list[str]) -> None:
    seen: set[str] = set()
    for ident in ids:
        if ident in seen:
            raise PydanticCustomError(
                "duplicate_id",
                "the {kind} id {ident} appears twice",
                {"kind": kind, "ident": repr(ident)},
            )
        seen.add(ident)


Actions = Annotated[list[Action], Field(max_length=MAX_ACTIONS)]


class _Template(_Model):
    @model_validator(mode="after")
    def _unique_ids(self) -> _Template:
        for kind, name in (("item", "items"), ("result", "results"), ("action", "actions")):
            entries = getattr(self, name, None)
            if entries:
                _unique(kind, [entry.id for entry in entries])
        return self


class ListTemplate(_Template):
    type: Literal["list"] = "list"
    title: Title
    items: Annotated[list[Item], Field(max_length=MAX_ITEMS)]
    actions: Actions = Field(default_factory=list)


class GridTemplate(_Template):
    type: Literal["grid"] = "grid"
    title: Title
    items: Annotated[list[GridItem], Field(max_length=MAX_ITEMS)]
    actions: Actions = Field(default_factory=list)


class PaneTemplate(_Template):
    type: Literal["pane"] = "pane"
    title: Title
    rows: Annotated[list[Row], Field(max_length=MAX_ROWS)]
    actions: Annotated[list[Action], Field(max_length=MAX_PANE_ACTIONS)] = Field(
        default_factory=list
    )


class MessageTemplate(_Template):
    type: Literal["message"] = "message"
    title: Title
    message: Body
    icon: Id | None = None
    actions: Actions = Field(default_factory=list)


class NavigationTemplate(_Template):
    """Turn-by-turn guidance over a map placeholder: the next *maneuver* in *distance_m*
    metres, on *road*, arriving at *eta* (as the app words it, e.g. ``"12:40"``)."""

    type: Literal["navigation"] = "navigation"
    title: Title
    maneuver: Title
    distance_m: Annotated[float, Field(ge=0, allow_inf_nan=False)]
    road: Title | None = None
    eta: Title | None = None


class SearchTemplate(_Template):
    """A search box (needs a keyboard, so it is not shown while driving) and its results."""

    type: Literal["search"] = "search"
    title: Title
    placeholder: Title
    results: Annotated[list[SearchResult], Field(max_length=MAX_ITEMS)] = Field(
        default_factory=list
    )


Template: TypeAlias = (
    ListTemplate
    | GridTemplate
    | PaneTemplate
    | MessageTemplate
    | NavigationTemplate
    | SearchTemplate
)
TEMPLATE_TYPES = ("list", "grid", "pane", "message", "navigation", "search")

_ADAPTER: TypeAdapter[Template] = TypeAdapter(Annotated[Template, Field(discriminator="type")])


def parse_template(data: Any) -> Template:
    """The template *data* (JSON as Python objects, or a template model) describes.

    Raises :class:`InvalidArgument` with one sentence naming the first problem and where it
    is (``items.3.title``); nothing else.
    """
    if isinstance(data, _Template):
        data = data.model_dump(mode="json", exclude_none=True)
    try:
        return _ADAPTER.validate_python(data)
    except ValidationError as exc:
        raise InvalidArgument(_sentence(exc, data)) from None
    except (RecursionError, ValueError, TypeError) as exc:  # pragma: no cover - defensive
        raise InvalidArgument(f"the template is not valid: {exc}") from None


def _sentence(exc: ValidationError, data: Any) -> str:
    error = exc.errors(include_url=False, include_input=False)[0]
    kind = error["type"]
    if kind in ("union_tag_not_found", "model_attributes_type", "dict_type") or (
        kind == "model_type" and not error["loc"]
    ):
        if not isinstance(data, dict):
            return "a template must be a JSON object with a type"
        return f"the template has no type; give one of {', '.join(TEMPLATE_TYPES)}"
    if kind == "union_tag_invalid":
        return (
            f"{_short(data.get('type'))} is not a template type; "
            f"use one of {', '.join(TEMPLATE_TYPES)}"
        )
    loc = list(error["loc"])
    if loc and isinstance(data, dict) and loc[0] == data.get("type"):
        loc = loc[1:]
    where = ".".join(str(part) if len(str(part)) <= 40 else _short(part) for part in loc)
    if kind in _MESSAGES:
        message = _MESSAGES[kind].format(**error.get("ctx", {}))
    else:
        message = error["msg"].removeprefix("Input ")
    name = data.get("type") if isinstance(data, dict) else None
    subject = f"the {name} template" if isinstance(name, str) else "the template"
    if not where:
        return f"{subject} is not valid: {message}"
    return f"{subject} is not valid: {where} {message}"


_MESSAGES = {
    "extra_forbidden": "is not a known field",
    "missing": "is missing",
    "string_pattern_mismatch": "must be 1 to 64 letters, digits, '_', '.' or '-'",
    "too_long": "has more than {max_length} entries",
    "string_type": "must be a string",
    "list_type": "must be a list",
    "model_type": "must be an object",
}


def _short(value: Any) -> str:
    """*value*'s repr, cut to fit in a sentence."""
    text = repr(value)
    return text if len(text) <= 40 else text[:39] + ELLIPSIS


def template_json(template: Template) -> dict[str, Any]:
    """The JSON object of *template*: absent optional fields are left out, lists kept."""
    return template.model_dump(mode="json", exclude_none=True)


# -- trimming --------------------------------------------------------------------------------

#: What a search template becomes while text entry is not allowed.
SEARCH_UNAVAILABLE: dict[str, str] = {
    "en": "Search is not available while driving.",
    "zh-CN": "驾驶时无法使用搜索。",
}
#: The fields of each template type (and of its entries) that hold texts.
_TEXT_FIELDS = (
    "title",
    "text",
    "label",
    "value",
    "message",
    "placeholder",
    "maneuver",
    "road",
    "eta",
)
_LIST_FIELDS = ("items", "results")


def trim(template: Template, rules: Rules) -> tuple[dict[str, Any], bool]:
    """*template* as the HMI may show it under *rules*, and whether anything was cut.

    Lists, grids and search results are cut to ``rules.max_list_items``, every text to
    ``rules.max_text_length`` characters (the last one "…"); without ``rules.text_entry`` a
    search template is replaced by a message template with the same title. The result is a
    valid template JSON object.
    """
    data = template_json(template)
    trimmed = False
    if isinstance(template, SearchTemplate) and not rules.text_entry:
        data = {"type": "message", "title": data["title"], "message": dict(SEARCH_UNAVAILABLE)}
        data["actions"] = []
        trimmed = True
    if rules.max_list_items is not None:
        for name in _LIST_FIELDS:
            entries = data.get(name)
            if isinstance(entries, list) and len(entries) > rules.max_list_items:
                data[name] = entries[: max(rules.max_list_items, 0)]
                trimmed = True
    if rules.max_text_length is not None:
        trimmed = _cut_texts(data, max(rules.max_text_length, 1)) or trimmed
    return data, trimmed


def _cut_texts(data: dict[str, Any], limit: int) -> bool:
    """Cut every text field of *data* and of its entries in place; True when one was cut."""
    cut = False
    for key, value in data.items():
        if key in _TEXT_FIELDS:
            shorter = cut_text(value, limit)
            if shorter != value:
                data[key] = shorter
                cut = True
        elif isinstance(value, list):
            for entry in value:
                if isinstance(entry, dict):
                    cut = _cut_texts(entry, limit) or cut
    return cut


def cut_text(text: TextT, limit: int) -> TextT:
    """*text* (a string or a per-language dict) cut to at most *limit* (≥ 1) characters per
    language, ending in "…" where it was cut."""
    if isinstance(text, str):
        return text if len(text) <= limit else text[: max(limit, 1) - 1] + ELLIPSIS
    return {language: cut_text(value, limit) for language, value in text.items()}
