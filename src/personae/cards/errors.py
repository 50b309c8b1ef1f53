"""The one error type of card import and export."""

from __future__ import annotations

# Every code CardError uses, so callers (and tests) can rely on a closed set.
ERROR_CODES: frozenset[str] = frozenset(
    {
        "bad_base64",
        "bad_encoding",
        "bad_json",
        "bad_value",
        "corrupt_archive",
        "corrupt_image",
        "decompression_bomb",
        "field_too_long",
        "missing_card_json",
        "missing_field",
        "no_card_chunk",
        "not_an_image",
        "path_traversal",
        "too_deep",
        "too_large",
        "too_many_chunks",
        "too_many_entries",
        "unsupported_format",
        "unsupported_spec",
        "wrong_type",
        "zip_bomb",
    }
)

# Too big for us to even look at: the HTTP layer answers 413.
SIZE_CODES: frozenset[str] = frozenset({"too_large", "decompression_bomb", "zip_bomb"})
# Not a kind of file we read at all: 415.
FORMAT_CODES: frozenset[str] = frozenset({"not_an_image", "unsupported_format"})


class CardError(ValueError):
    """A card, lorebook or asset we will not read or write; `code` is machine-readable."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    @property
    def http_status(self) -> int:
        """The HTTP status this error suggests: 413 too big, 415 wrong kind of file, else 422."""
        if self.code in SIZE_CODES:
            return 413
        if self.code in FORMAT_CODES:
            return 415
        return 422

    def __repr__(self) -> str:
        return f"CardError({self.code!r}, {self.message!r})"
