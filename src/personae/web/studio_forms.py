"""Studio forms: turn posted fields into service inputs, and errors into words by field."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import Request
from pydantic import ValidationError
from starlette.datastructures import FormData

from personae.agents.api import AutonomyIn
from personae.characters.lore_keys import regex_problem
from personae.characters.schemas import CharacterFields, EntryFields
from personae.web import i18n
from personae.web.tabbed import undo as undo  # the studio pages call forms.undo

# Card text fields edited as they are (short ones are single-line inputs).
TEXT_FIELDS = (
    "name",
    "nickname",
    "description",
    "personality",
    "scenario",
    "first_mes",
    "mes_example",
    "system_prompt",
    "post_history_instructions",
    "creator_notes",
    "creator",
    "character_version",
)
GREETING_FIELDS = ("alternate_greetings", "group_only_greetings")
# The character's sampling: its own fields, and the samplers (field group "Samplers")
# that override its backend's defaults; whole numbers are parsed as ints.
SAMPLER_FIELDS: dict[str, type[int] | type[float]] = {
    "min_p": float,
    "top_k": int,
    "repeat_penalty": float,
    "frequency_penalty": float,
    "presence_penalty": float,
    "dry_multiplier": float,
    "dry_base": float,
    "dry_allowed_length": int,
    "seed": int,
}
SAMPLING_KINDS: dict[str, type[int] | type[float]] = {
    "temperature": float,
    "top_p": float,
    "max_tokens": int,
    **SAMPLER_FIELDS,
}
SAMPLING_FIELDS = tuple(SAMPLING_KINDS)
AUTONOMY_NUMBERS = (
    "posts_per_day",
    "browse_per_day",
    "replies_per_hour",
    "tokens_per_day",
    "active_from",
    "active_until",
    "reply_delay_min_s",
    "reply_delay_max_s",
)
# Service error codes -> the form field they are about.
CODE_FIELDS = {
    "handle_taken": "handle",
    "bad_timezone": "timezone",
    "character_private": "enabled",
    "bad_reply_delay": "reply_delay_min_s",
    "bad_action": "allowed_actions",
    "empty_post": "text",
}


def tr(request: Request, text: str, **params: Any) -> str:
    """`text` in the visitor's language, with %(name)s placeholders filled."""
    translated = i18n.catalog(i18n.pick_language(request)).get(text, text)
    return translated % params if params else translated


def friendly(request: Request, error: Mapping[str, Any]) -> str:
    """One pydantic error in plain words."""
    kind, ctx = error.get("type", ""), error.get("ctx") or {}
    if kind == "string_too_long":
        return tr(request, "Too long: at most %(n)s characters.", n=ctx.get("max_length", "?"))
    if kind in ("string_too_short", "missing"):
        return tr(request, "This can't be empty.")
    if kind == "string_pattern_mismatch":
        return tr(request, "Use 1 to 30 lowercase letters, digits or _.")
    if kind == "too_long":
        return tr(request, "Too many: at most %(n)s.", n=ctx.get("max_length", "?"))
    if kind in ("greater_than_equal", "greater_than"):
        return tr(request, "Must be at least %(n)s.", n=ctx.get("ge", ctx.get("gt", "?")))
    if kind in ("less_than_equal", "less_than"):
        return tr(request, "Must be at most %(n)s.", n=ctx.get("le", ctx.get("lt", "?")))
    if kind == "literal_error":
        return tr(request, "Choose one of the options.")
    if kind in ("int_parsing", "float_parsing", "int_from_float"):
        return tr(request, "Enter a whole number.")
    return str(error.get("msg", "invalid"))


def field_errors(request: Request, exc: ValidationError) -> dict[str, str]:
    """Errors keyed by form field (a list item's error goes to its list, sampling's to its
    own field)."""
    errors: dict[str, str] = {}
    for error in exc.errors():
        loc = [str(part) for part in error.get("loc", ())]
        key = loc[1] if loc[:1] == ["sampling"] and len(loc) > 1 else (loc[0] if loc else "form")
        errors.setdefault(key, friendly(request, error))
    return errors


def text_value(form: FormData, name: str) -> str:
    """A posted text field with browser line endings made plain."""
    value = form.get(name)
    return value.replace("\r\n", "\n") if isinstance(value, str) else ""


def split_list(raw: str) -> list[str]:
    """Comma-separated words, trimmed, without blanks or repeats."""
    seen: list[str] = []
    for part in raw.split(","):
        word = part.strip()
        if word and word not in seen:
            seen.append(word)
    return seen


def number(raw: str, kind: type[int] | type[float]) -> int | float | str | None:
    """A typed number, None for blank, or the raw text when it is not a number."""
    raw = raw.strip()
    if not raw:
        return None
    try:
        return kind(raw)
    except ValueError:
        return raw


def profile_values(character: dict[str, Any] | None) -> dict[str, Any]:
    """What the profile form shows for a stored character (or a new one)."""
    c = character or {}
    values: dict[str, Any] = {name: c.get(name, "") for name in TEXT_FIELDS}
    values["handle"] = c.get("handle", "")
    values["visibility"] = c.get("visibility", "private")
    values["tags"] = ", ".join(c.get("tags", []))
    for name in GREETING_FIELDS:
        values[name] = list(c.get(name, []))
    sampling = c.get("sampling") or {}
    for name in SAMPLING_FIELDS:
        value = sampling.get(name)
        values[name] = "" if value is None else str(value)
    values["backend"] = c.get("backend") or ""
    return values


def posted_profile(form: FormData) -> dict[str, Any]:
    """What the profile form posted, in the shape `profile_values` gives."""
    values: dict[str, Any] = {name: text_value(form, name) for name in TEXT_FIELDS}
    values["name"] = values["name"].strip()
    values["handle"] = text_value(form, "handle").strip().lower()
    values["visibility"] = text_value(form, "visibility") or "private"
    values["tags"] = text_value(form, "tags")
    for name in GREETING_FIELDS:
        greetings = [g.replace("\r\n", "\n") for g in form.getlist(name) if isinstance(g, str)]
        values[name] = [g for g in greetings if g.strip()]
    for name in SAMPLING_FIELDS:
        values[name] = text_value(form, name)
    values["backend"] = text_value(form, "backend").strip()
    remove = text_value(form, "remove_greeting")
    list_name, _, index = remove.partition(":")
    if list_name in GREETING_FIELDS and index.isdigit():
        greetings = [g for g in form.getlist(list_name) if isinstance(g, str)]
        if int(index) < len(greetings):
            del greetings[int(index)]
        values[list_name] = [g.replace("\r\n", "\n") for g in greetings]
        values[list_name] = [g for g in values[list_name] if g.strip()]
    return values


def profile_changes(
    request: Request, posted: dict[str, Any], current: dict[str, Any] | None
) -> tuple[dict[str, Any], dict[str, str]]:
    """The fields that differ from the stored character (all of them for a new one),
    validated; unchanged fields are left out so what a card kept for them stays."""
    data: dict[str, Any] = {name: posted[name] for name in TEXT_FIELDS}
    data["visibility"] = posted["visibility"]
    data["tags"] = split_list(posted["tags"])
    for name in GREETING_FIELDS:
        data[name] = posted[name]
    data["backend"] = posted["backend"] or None
    sampling = {name: number(posted[name], kind) for name, kind in SAMPLING_KINDS.items()}
    errors: dict[str, str] = {}
    for name, value in sampling.items():
        if isinstance(value, str):
            whole = SAMPLING_KINDS[name] is int
            errors[name] = tr(request, "Enter a whole number." if whole else "Enter a number.")
    data["sampling"] = {k: v for k, v in sampling.items() if v is not None}
    if posted["handle"]:
        data["handle"] = posted["handle"]
    if current is not None:
        old = {**current, "sampling": current.get("sampling") or {}}
        data = {k: v for k, v in data.items() if old.get(k) != v}
    if errors:
        return {}, errors
    try:
        CharacterFields(**data)
    except ValidationError as exc:
        return {}, field_errors(request, exc)
    return data, {}


def entry_values(entry: dict[str, Any] | None) -> dict[str, Any]:
    """What an entry form shows."""
    e = entry or {}
    return {
        "id": e.get("id", ""),
        "name": e.get("name", ""),
        "keys": ", ".join(e.get("keys", [])),
        "secondary_keys": ", ".join(e.get("secondary_keys", [])),
        "content": e.get("content", ""),
        "comment": e.get("comment", ""),
        "enabled": e.get("enabled", True),
        "constant": e.get("constant", False),
        "selective": e.get("selective", False),
        "case_sensitive": e.get("case_sensitive", False),
        "use_regex": e.get("use_regex", False),
        "insertion_order": str(e.get("insertion_order", 100)),
        "priority": "" if e.get("priority") is None else str(e.get("priority")),
        "position": e.get("position", "before_char"),
    }


def posted_entry(
    request: Request, form: FormData
) -> tuple[EntryFields | None, dict[str, Any], dict[str, str]]:
    """A lorebook entry from its form: the fields, what to show again, errors by field."""
    shown: dict[str, Any] = {
        name: text_value(form, name)
        for name in ("name", "keys", "secondary_keys", "content", "comment", "position")
    }
    for flag in ("enabled", "constant", "selective", "case_sensitive", "use_regex"):
        shown[flag] = flag in form
    shown["insertion_order"] = text_value(form, "insertion_order")
    shown["priority"] = text_value(form, "priority")
    data: dict[str, Any] = {
        name: shown[name] for name in ("name", "content", "comment") if name in shown
    }
    data["keys"] = split_list(shown["keys"])
    data["secondary_keys"] = split_list(shown["secondary_keys"])
    data["position"] = shown["position"] or "before_char"
    for flag in ("enabled", "constant", "selective", "case_sensitive", "use_regex"):
        data[flag] = shown[flag]
    errors: dict[str, str] = {}
    order = number(shown["insertion_order"], int)
    priority = number(shown["priority"], int)
    for name, value in (("insertion_order", order), ("priority", priority)):
        if isinstance(value, str):
            errors[name] = tr(request, "Enter a whole number.")
    data["insertion_order"] = 100 if order is None else order
    data["priority"] = priority
    if not data["keys"] and not data["constant"]:
        errors["keys"] = tr(
            request, "Give at least one keyword, or tick “Always include” so it needs none."
        )
    if not data["content"].strip():
        errors["content"] = tr(request, "Write what the character should know.")
    if data["use_regex"]:
        for key in [*data["keys"], *data["secondary_keys"]]:
            problem = regex_problem(key)
            if problem is not None:
                field = "keys" if key in data["keys"] else "secondary_keys"
                errors.setdefault(field, f"{key[:60]!r} {problem}")
    if errors:
        return None, shown, errors
    try:
        return EntryFields(**data), shown, {}
    except ValidationError as exc:
        return None, shown, field_errors(request, exc)


def autonomy_values(settings: dict[str, Any]) -> dict[str, Any]:
    """What the autonomy form shows for stored settings."""
    values = dict(settings)
    values["interests"] = ", ".join(settings.get("interests", []))
    for name in AUTONOMY_NUMBERS:
        values[name] = str(settings.get(name, ""))
    return values


def posted_autonomy(
    request: Request, form: FormData
) -> tuple[dict[str, Any], dict[str, Any], dict[str, str]]:
    """Autonomy changes from the form: the changes, what to show again, errors by field."""
    shown: dict[str, Any] = {name: text_value(form, name).strip() for name in AUTONOMY_NUMBERS}
    shown["enabled"] = "enabled" in form
    shown["approval_mode"] = "approval_mode" in form
    shown["timezone"] = text_value(form, "timezone").strip() or "UTC"
    shown["interests"] = text_value(form, "interests")
    shown["posting_style"] = text_value(form, "posting_style")
    shown["reply_policy"] = text_value(form, "reply_policy") or "engaged"
    shown["allowed_actions"] = [a for a in form.getlist("allowed_actions") if isinstance(a, str)]
    data: dict[str, Any] = {
        k: shown[k]
        for k in (
            "enabled",
            "approval_mode",
            "timezone",
            "posting_style",
            "reply_policy",
            "allowed_actions",
        )
    }
    data["interests"] = split_list(shown["interests"])
    errors: dict[str, str] = {}
    for name in AUTONOMY_NUMBERS:
        value = number(shown[name], int)
        if value is None or isinstance(value, str):
            errors[name] = tr(request, "Enter a whole number.")
        else:
            data[name] = value
    if errors:
        return {}, shown, errors
    try:
        checked = AutonomyIn(**data)
    except ValidationError as exc:
        return {}, shown, field_errors(request, exc)
    return checked.model_dump(exclude_none=True), shown, {}
