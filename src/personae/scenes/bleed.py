"""No bleed: a character writes only its own message, never lines for anyone else.

Two layers. Stop sequences (`stop_sequences`) end generation when the model starts a line
in another participant's name, so the backend does not even write it; `clean_reply` then
cleans whatever gets through (a backend that ignores stops, a label the stop list cannot
know): it drops the speaker's own leading `Name:` label and cuts the text at the first line
where another participant (or the speaker, a second time) starts to speak. `ReplyFilter`
does the same to a stream, so a person never sees a line in someone else's voice even
while it is being written.

Labels are matched with plain string operations (no regex is built from names people
chose), case-insensitively, allowing the decorations models add: `**Bob:**`, `Bob :`,
`[Bob]:`, `> Bob:`.
"""

from __future__ import annotations

from collections.abc import Sequence

# Generic labels models use for "the human" in chat transcripts; a line starting with one
# is a line in a person's voice even though no participant has that name.
GENERIC_PERSON_LABELS: tuple[str, ...] = ("User", "{{user}}", "Human", "You")
# Backends cap stop lists (OpenAI's API at 4; llama.cpp and vLLM take more). Names come
# first, so a capped list keeps the most useful ones.
MAX_STOP_SEQUENCES = 48
# A label is a name and a colon; a line longer than this before its colon is prose.
MAX_LABEL_CHARS = 120
_DECORATION = "*_>#[]()\"'` \t"


def _names(names: Sequence[str], speaker: str) -> list[str]:
    """Distinct non-empty names other than the speaker's, whitespace collapsed."""
    own = " ".join(speaker.split()).casefold()
    seen: set[str] = set()
    out: list[str] = []
    for raw in names:
        name = " ".join(raw.split())
        key = name.casefold()
        if name and key != own and key not in seen:
            seen.add(key)
            out.append(name)
    return out


def stop_sequences(speaker: str, others: Sequence[str]) -> list[str]:
    """Stops that end the reply where a line in someone else's name begins (people
    included), plus generic person labels."""
    stops: list[str] = []
    for name in [*_names(others, speaker), *_names(GENERIC_PERSON_LABELS, speaker)]:
        for form in (f"\n{name}:", f"\n**{name}:**"):
            if form not in stops:
                stops.append(form)
    return stops[:MAX_STOP_SEQUENCES]


def label_of(line: str) -> str | None:
    """The speaker label a line starts with (`Bob` of `**Bob:** hi`), case-folded, or None."""
    stripped = line.lstrip(_DECORATION)
    colon = stripped.find(":", 0, MAX_LABEL_CHARS)
    if colon <= 0:
        return None
    label = " ".join(stripped[:colon].strip(_DECORATION).split())
    if not label or label.startswith("//"):  # "http://" is not a label
        return None
    return label.casefold()


def _rest_after_label(line: str) -> str:
    """The line without its leading label and the decoration around it."""
    stripped = line.lstrip(_DECORATION)
    rest = stripped[stripped.find(":") + 1 :]
    # "**Bob:** hi": the closing decoration of the label goes with it.
    return rest.lstrip("*_]) \t")


def _label_set(names: Sequence[str]) -> set[str]:
    return {" ".join(n.split()).casefold() for n in names if n.strip()}


def clean_reply(text: str, speaker_name: str, other_names: Sequence[str]) -> str:
    """The reply as the speaker's own words only: its leading label dropped, cut before the
    first line in another's voice (or a second message of its own); "" means no message."""
    own = _label_set([speaker_name])
    others = _label_set([*other_names, *GENERIC_PERSON_LABELS]) - own
    lines = text.split("\n")
    # The speaker's own label at the start, possibly repeated ("Ann: Ann: hi").
    while lines:
        first = lines[0]
        if not first.strip():
            lines.pop(0)
            continue
        label = label_of(first)
        if label is not None and label in own:
            lines[0] = _rest_after_label(first)
            if not lines[0].strip():
                lines.pop(0)
            continue
        if label is not None and label in others:
            return ""  # the whole reply is in someone else's voice
        break
    kept: list[str] = []
    for index, line in enumerate(lines):
        label = label_of(line)
        if index > 0 and label is not None and (label in others or label in own):
            break
        kept.append(line)
    return "\n".join(kept).strip()


class ReplyFilter:
    """`clean_reply` for a stream: feed tokens, get the text that is safe to show now.

    The line being written is held back only while it could still turn out to be a
    participant's label ("Bo" may become "Bob:"), so ordinary text streams at once and a
    line in someone else's voice is never shown, not even its first letters.
    """

    def __init__(self, speaker_name: str, other_names: Sequence[str]) -> None:
        self._speaker = speaker_name
        self._own = _label_set([speaker_name])
        self._others = _label_set([*other_names, *GENERIC_PERSON_LABELS]) - self._own
        self._text = ""  # everything fed so far
        self._shown = ""  # the cleaned text already handed out
        self.stopped = False  # another voice began: ignore the rest (and stop generating)

    def _clean(self, text: str) -> str:
        return clean_reply(text, self._speaker, list(self._others))

    def feed(self, token: str) -> str:
        """The new text to show after `token` (may be "")."""
        if self.stopped:
            return ""
        self._text += token
        head, _, line = self._text.rpartition("\n")
        # The line in progress is held back only while it could still become a label
        # ("Bo" of "Bob:"); any other text is shown at once.
        settled = head if line and self._could_be_label(line) else self._text
        cleaned = self._clean(settled)
        if self._ends_in_other_voice(settled):
            self.stopped = True
        return self._advance(cleaned)

    def end(self) -> str:
        """The rest of the text to show once generation ended."""
        if self.stopped:
            return ""
        return self._advance(self._clean(self._text))

    @property
    def text(self) -> str:
        """The whole cleaned reply so far (what is saved)."""
        return self._shown

    def _could_be_label(self, line: str) -> bool:
        """Whether `line` (no colon yet) may still turn into a known speaker's label."""
        if ":" in line or len(line) >= MAX_LABEL_CHARS:
            return False
        stripped = line.lstrip(_DECORATION).casefold()
        if not stripped:
            return True  # only decoration so far ("**")
        for label in self._others | self._own:
            if label.startswith(stripped):
                return True  # "Bo", "Old " of "Old Tom"
            if stripped.startswith(label) and not stripped[len(label) :].strip(_DECORATION):
                return True  # "Bob **" or "Bob " waiting for its colon
        return False

    def _ends_in_other_voice(self, settled: str) -> bool:
        lines = settled.split("\n")
        started = False
        for line in lines:
            if not line.strip():
                continue
            label = label_of(line)
            if started and label is not None and (label in self._others or label in self._own):
                return True
            if not started and label is not None and label in self._others:
                return True
            started = True
        return False

    def _advance(self, cleaned: str) -> str:
        # Cleaning is a function of the whole text, so the shown text only ever grows by a
        # suffix; anything else (a stripped trailing space restored) is re-synced safely.
        if cleaned.startswith(self._shown):
            new = cleaned[len(self._shown) :]
            self._shown = cleaned
            return new
        return ""
