"""API shapes for characters and lorebooks, with the limits every input obeys."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

HANDLE_PATTERN = r"^[a-z0-9_]{1,30}$"
LONG_TEXT = 100_000

ShortText = Annotated[str, StringConstraints(max_length=200)]
LongText = Annotated[str, StringConstraints(max_length=LONG_TEXT)]
Tag = Annotated[str, StringConstraints(min_length=1, max_length=100)]
Handle = Annotated[str, StringConstraints(pattern=HANDLE_PATTERN)]
Visibility = Literal["private", "unlisted", "public"]


class Sampling(BaseModel):
    """Per-character sampling settings; unset ones use the instance defaults."""

    model_config = ConfigDict(extra="forbid")

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
    extensions: dict[str, Any] | None = None
    backend: Annotated[str, StringConstraints(max_length=100)] | None = None
    sampling: Sampling | None = None


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
    extensions: dict[str, Any] = {}


class EntryOut(EntryFields):
    """A stored entry."""

    model_config = ConfigDict(extra="ignore")

    id: str


class LorebookFields(BaseModel):
    """A lorebook as the API takes it."""

    model_config = ConfigDict(extra="forbid")

    name: ShortText = ""
    description: LongText = ""
    scan_depth: int | None = Field(default=None, ge=1, le=1000)
    token_budget: int | None = Field(default=None, ge=1, le=1_000_000)
    recursive_scanning: bool | None = None
    extensions: dict[str, Any] = {}
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
