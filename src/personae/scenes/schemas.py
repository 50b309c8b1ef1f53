"""The JSON shapes of the scenes API (requests and typed responses)."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

Id = Annotated[str, StringConstraints(min_length=1, max_length=32)]
Handle = Annotated[str, StringConstraints(min_length=1, max_length=300)]
Visibility = Literal["private", "invite", "public"]
Mode = Literal["natural", "list", "pooled", "manual", "director"]
Fraction = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
MAX_SCENARIO = 20_000
MAX_CONTENT = 100_000


class Body(BaseModel):
    """A request body: unknown fields and explicit nulls (where null means nothing) are
    refused with a message naming the field, instead of being ignored."""

    model_config = ConfigDict(extra="forbid")
    nullable: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="before")
    @classmethod
    def _no_nulls(cls, data: Any) -> Any:
        if isinstance(data, dict):
            allowed = cls.nullable
            for key, value in data.items():
                if value is None and key not in allowed and key in cls.model_fields:
                    raise ValueError(f"{key} must not be null")
        return data


class SceneIn(Body):
    """Open a scene."""

    title: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    scenario: Annotated[str, StringConstraints(max_length=MAX_SCENARIO)] = ""
    visibility: Visibility = "private"
    mode: Mode = "natural"
    allow_self: bool = False
    characters: Annotated[list[Handle], Field(max_length=50)] = []
    persona_id: Id | None = None
    nullable: ClassVar[frozenset[str]] = frozenset({"persona_id"})


class ScenePatch(Body):
    """Change a scene's settings (owner); fields left out stay as they are."""

    title: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    scenario: Annotated[str, StringConstraints(max_length=MAX_SCENARIO)] | None = None
    visibility: Visibility | None = None
    mode: Mode | None = None
    allow_self: bool | None = None
    # The scene's own lorebook (its entries reach every speaker's prompt); null: none.
    lorebook_id: Id | None = None
    nullable: ClassVar[frozenset[str]] = frozenset({"lorebook_id"})


class MemberIn(Body):
    """Add a character (`character`: its handle) or invite a person (`person`: username)."""

    character: Handle | None = None
    person: Handle | None = None
    talkativeness: Fraction | None = None
    backend: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = None
    nullable: ClassVar[frozenset[str]] = frozenset({"backend"})

    @model_validator(mode="after")
    def _one_of(self) -> MemberIn:
        if (self.character is None) == (self.person is None):
            raise ValueError("give either character (a handle) or person (a username)")
        if self.person is not None and (self.talkativeness is not None or self.backend):
            raise ValueError("talkativeness and backend are for characters")
        return self


class MemberPatch(Body):
    """Change a member (owner): mute, talkativeness, backend (null: the character's own)."""

    muted: bool | None = None
    talkativeness: Fraction | None = None
    backend: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = None
    nullable: ClassVar[frozenset[str]] = frozenset({"backend"})


class InvitationAnswer(Body):
    """Accept or decline an invitation."""

    accept: bool


class SceneMessageIn(Body):
    """A person's message; `parent_id` branches from an earlier message."""

    content: Annotated[str, StringConstraints(min_length=1, max_length=MAX_CONTENT)]
    parent_id: Id | None = None
    persona_id: Id | None = None
    nullable: ClassVar[frozenset[str]] = frozenset({"parent_id", "persona_id"})


class SpeakIn(Body):
    """Make a character speak now (a tap)."""

    participant_id: Id


class MessageEditIn(Body):
    """New text for a message."""

    content: Annotated[str, StringConstraints(min_length=1, max_length=MAX_CONTENT)]


class BranchIn(Body):
    """Where to branch a new scene from."""

    message_id: Id


class AutoIn(Body):
    """Turn auto-mode on or off; on resets the turn budget."""

    on: bool
    delay_s: Annotated[float, Field(ge=0, le=3600, allow_inf_nan=False)] | None = None
    turn_budget: Annotated[int, Field(ge=1, le=500)] | None = None
    tokens_per_day: Annotated[int, Field(ge=1, le=10_000_000)] | None = None


class ShareIn(Body):
    """Publish a range of the scene (default: all of the shown branch) as a post."""

    from_message_id: Id | None = None
    to_message_id: Id | None = None
    text: Annotated[str, StringConstraints(max_length=1000)] = ""
    nullable: ClassVar[frozenset[str]] = frozenset({"from_message_id", "to_message_id"})


class ImportIn(Body):
    """A SillyTavern group file, as its JSON object."""

    group: dict[str, Any]
    persona_id: Id | None = None
    nullable: ClassVar[frozenset[str]] = frozenset({"persona_id"})


# --------------------------------------------------------------------------- answers


class PersonRef(BaseModel):
    """A person, as scenes name them."""

    username: str
    display_name: str


class MemberOut(BaseModel):
    """A participant of the scene (characters are always labelled `is_ai`)."""

    id: str
    kind: Literal["person", "character"]
    name: str
    handle: str
    avatar_url: str | None
    is_ai: bool
    status: Literal["member", "invited", "declined", "left"]
    muted: bool
    talkativeness: float
    backend: str | None
    joined_at: str
    left_at: str | None


class SpeakerOut(BaseModel):
    """Who said a message."""

    participant_id: str | None
    kind: Literal["person", "character"] | None
    name: str
    handle: str
    is_ai: bool


class SwipeOut(BaseModel):
    """A message's place among its siblings (swipes)."""

    index: int
    count: int
    sibling_ids: list[str]


class GenerationOut(BaseModel):
    """How a character's message was generated."""

    backend: str
    model: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    cached_tokens: int | None
    ttft_ms: float | None
    duration_ms: float | None
    finish_reason: str | None


class SceneMessageOut(BaseModel):
    """One message of the scene."""

    id: str
    parent_id: str | None
    role: Literal["user", "assistant"]
    speaker: SpeakerOut
    content: str
    html: str
    reason: str | None
    is_greeting: bool
    created_at: str
    edited_at: str | None
    swipe: SwipeOut
    generation: GenerationOut | None


class NextOut(BaseModel):
    """Who speaks next and why (participant_id null: a person should, or a tap)."""

    participant_id: str | None
    name: str | None
    reason: str


class AutoOut(BaseModel):
    """Auto-mode: on or off, what is left of its budgets, and why it waits, if it does."""

    on: bool
    delay_s: float
    turns_left: int
    tokens_left_today: int
    paused_reason: str | None


class SceneSummary(BaseModel):
    """A scene as listed."""

    id: str
    title: str
    visibility: Visibility
    mode: Mode
    owner: PersonRef
    my_role: Literal["owner", "member", "invited", "watcher"]
    invited_by: PersonRef | None
    characters: list[str]
    people: list[str]
    updated_at: str


class SceneOut(BaseModel):
    """A scene with its members and the messages of its shown branch."""

    id: str
    title: str
    scenario: str
    visibility: Visibility
    mode: Mode
    allow_self: bool
    lorebook_id: str | None
    owner: PersonRef
    my_role: Literal["owner", "member", "invited", "watcher"]
    invited_by: PersonRef | None
    members: list[MemberOut]
    messages: list[SceneMessageOut]
    next: NextOut
    auto: AutoOut
    busy: bool
    created_at: str
    updated_at: str


class SceneList(BaseModel):
    """The caller's scenes and the invitations waiting for an answer."""

    scenes: list[SceneSummary]
    invitations: list[SceneSummary]


class InvitationOut(BaseModel):
    """An invitation answered: the scene when it was accepted."""

    accepted: bool
    scene: SceneOut | None


class PostedOut(BaseModel):
    """A person's message was saved; these characters will answer, over the event stream."""

    message: SceneMessageOut
    speakers: list[NextOut]


class AcceptedOut(BaseModel):
    """A request that starts work which goes on after the answer (a reply, a tap)."""

    accepted: bool
    speakers: list[NextOut]


class StopOut(BaseModel):
    """What a stop did: whether a reply was being written."""

    stopped: bool


class MembersOut(BaseModel):
    """The scene's members after a change."""

    members: list[MemberOut]


class ImportOut(BaseModel):
    """An imported SillyTavern group: the scene, and the members no character matched."""

    scene: SceneOut
    missing: list[str]


class ShareOut(BaseModel):
    """The post a share published, and the transcript's address."""

    share_id: str
    post_id: str
    url: str


class SharedOut(BaseModel):
    """A shared transcript (read-only)."""

    id: str
    scene_id: str
    title: str
    owner: PersonRef
    post_id: str
    created_at: str
    members: list[MemberOut]
    messages: list[SceneMessageOut]
