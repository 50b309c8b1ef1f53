"""API shapes for characters and lorebooks, with the limits every input obeys."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from personae.characters.lore_keys import regex_problem
from personae.config import SamplerSettings
from personae.request_guard import json_problem

HANDLE_PATTERN = r"^[a-z0-9_]{1,30}$"
LONG_TEXT = 100_000
# A card allows 64 levels of nesting, and a lorebook entry's extensions sit 4 levels down
# in an exported card (data.character_book.entries[i]): free-form JSON we accept nests at
# most 60 levels, so whatever the API stores can always be exported again.
FREE_FORM_DEPTH = 60


def _not_too_deep(value: dict[str, Any]) -> dict[str, Any]:
    problem = json_problem(value, FREE_FORM_DEPTH)
    if problem is not None:
        raise ValueError(problem)
    return value


FreeForm = Annotated[dict[str, Any], AfterValidator(_not_too_deep)]

ShortText = Annotated[str, StringConstraints(max_length=200)]
LongText = Annotated[str, StringConstraints(max_length=LONG_TEXT)]
Tag = Annotated[str, StringConstraints(min_length=1, max_length=100)]
Handle = Annotated[str, StringConstraints(pattern=HANDLE_PATTERN)]
Visibility = Literal["private", "unlisted", "public"]


class Sampling(SamplerSettings):
    """Per-character sampling settings; unset ones use the backend's defaults."""

    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    max_tokens: int | None = Field(default=None, ge=1, le=8192)


class CharacterFields(BaseModel):
    """Editable fields of a character (all optional on update)."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    handle: Handle | None = None
    visibility: Visibility | None = None
    nickname: ShortText | None = None
    description: LongText | None = None
    personality: LongText | None = None
    scenario: LongText | None = None
    first_mes: LongText | None = None
    alternate_greetings: Annotated[list[LongText], Field(max_length=100)] | None = None
    group_only_greetings: Annotated[list[LongText], Field(max_length=100)] | None = None
    mes_example: LongText | None = None
    system_prompt: LongText | None = None
    post_history_instructions: LongText | None = None
    creator_notes: LongText | None = None
    creator: ShortText | None = None
    character_version: ShortText | None = None
    tags: Annotated[list[Tag], Field(max_length=100)] | None = None
    extensions: FreeForm | None = None
    backend: Annotated[str, StringConstraints(max_length=100)] | None = None
    sampling: Sampling | None = None

    @model_validator(mode="before")
    @classmethod
    def _null_means_empty(cls, data: Any) -> Any:
        """An explicit null empties a field (as in JSON Merge Patch); a few may not be null.

        Null reaching a column would be stored as JSON null and break every later read.
        """
        if not isinstance(data, dict):
            return data
        for key in _NEVER_NULL:
            if key in data and data[key] is None:
                raise ValueError(f"{key} may not be null")
        return {
            key: _EMPTY[key]() if value is None and key in _EMPTY else value
            for key, value in data.items()
        }


_NEVER_NULL = ("name", "handle", "visibility")
_EMPTY: dict[str, type] = {
    **{
        name: str
        for name in (
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
    },
    "alternate_greetings": list,
    "group_only_greetings": list,
    "tags": list,
    "extensions": dict,
}


class CharacterCreate(CharacterFields):
    """Fields to create a character: a name is required."""

    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]


class CharacterOut(BaseModel):
    """A character as the API shows it."""

    id: str
    handle: str
    owner: str
    visibility: Visibility
    is_ai: bool
    name: str
    nickname: str
    description: str
    personality: str
    scenario: str
    first_mes: str
    alternate_greetings: list[str]
    group_only_greetings: list[str]
    mes_example: str
    system_prompt: str
    post_history_instructions: str
    creator_notes: str
    creator: str
    character_version: str
    tags: list[str]
    extensions: dict[str, Any]
    backend: str | None
    sampling: dict[str, Any]
    has_avatar: bool
    revision: int
    lorebook_ids: list[str]
    created_at: str
    updated_at: str


class EntryFields(BaseModel):
    """A lorebook entry as the API takes it."""

    model_config = ConfigDict(extra="forbid")

    keys: Annotated[
        list[Annotated[str, StringConstraints(max_length=500)]], Field(max_length=100)
    ] = []
    secondary_keys: Annotated[
        list[Annotated[str, StringConstraints(max_length=500)]], Field(max_length=100)
    ] = []
    content: LongText = ""
    name: ShortText = ""
    comment: LongText = ""
    enabled: bool = True
    constant: bool = False
    selective: bool = False
    case_sensitive: bool = False
    use_regex: bool = False
    insertion_order: int = Field(default=100, ge=-1_000_000, le=1_000_000)
    priority: int | None = Field(default=None, ge=-1_000_000, le=1_000_000)
    position: Literal["before_char", "after_char"] = "before_char"
    extensions: FreeForm = {}

    @model_validator(mode="after")
    def _regex_keys_run(self) -> EntryFields:
        """Regex keys must be patterns RE2 can run (linear time, no look-around)."""
        if self.use_regex:
            for field in ("keys", "secondary_keys"):
                for i, key in enumerate(getattr(self, field)):
                    problem = regex_problem(key)
                    if problem is not None:
                        raise ValueError(f"{field}[{i}] {key[:60]!r} {problem}")
        return self


class EntryOut(BaseModel):
    """A stored entry, as read (imported cards may hold what the API would refuse)."""

    id: str
    keys: list[str]
    secondary_keys: list[str]
    content: str
    name: str
    comment: str
    enabled: bool
    constant: bool
    selective: bool
    case_sensitive: bool
    use_regex: bool
    insertion_order: int
    priority: int | None
    position: str
    extensions: dict[str, Any]


class LorebookFields(BaseModel):
    """A lorebook as the API takes it."""

    model_config = ConfigDict(extra="forbid")

    name: ShortText = ""
    description: LongText = ""
    scan_depth: int | None = Field(default=None, ge=1, le=1000)
    token_budget: int | None = Field(default=None, ge=1, le=1_000_000)
    recursive_scanning: bool | None = None
    extensions: FreeForm = {}
    entries: Annotated[list[EntryFields], Field(max_length=2000)] = []


class LorebookOut(BaseModel):
    """A stored lorebook with its entries."""

    id: str
    name: str
    description: str
    scan_depth: int | None
    token_budget: int | None
    recursive_scanning: bool | None
    extensions: dict[str, Any]
    entries: list[EntryOut]
