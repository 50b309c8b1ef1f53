"""CHARX archives: a zip with card.json and assets referenced by `embeded://` URIs."""

from __future__ import annotations

import io
import re
import zipfile
import zlib
from collections.abc import Sequence
from typing import Any

from personae.cards.errors import CardError
from personae.cards.jsonio import dump_json, load_json
from personae.cards.limits import CardLimits
from personae.cards.model import CardAsset, ParsedCard, card_for_export, normalize_card
from personae.cards.paths import check_path, embedded_path
from personae.cards.png import check_image_size

CARD_MEMBER = "card.json"
AVATAR_DIR = "assets/icon/images"
# Where we write an avatar that no icon asset references, and where we look for it again.
_LOOSE_AVATAR_EXTS = ("png", "webp", "jpg", "jpeg", "gif", "avif")
_CATEGORIES = {
    "images": ("png", "jpg", "jpeg", "webp", "gif", "avif", "bmp", "svg"),
    "audio": ("mp3", "wav", "ogg", "flac", "m4a", "opus"),
    "videos": ("mp4", "webm", "mkv", "mov"),
}
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # reproducible archives
_READ_STEP = 64 * 1024
_UNSAFE = re.compile(r"[^\w.-]+")


def _corrupt(problem: str) -> CardError:
    return CardError(
        "corrupt_archive",
        f"The CHARX file is not a readable zip archive: {problem}. Export it again and retry.",
    )


def _members(archive: zipfile.ZipFile, limits: CardLimits) -> dict[str, zipfile.ZipInfo]:
    """Files in the archive by name, after checking names and declared sizes."""
    infos = archive.infolist()
    if len(infos) > limits.max_charx_members:
        raise CardError(
            "too_many_entries",
            f"The CHARX file has {len(infos):,} members; the limit is "
            f"{limits.max_charx_members:,}. Remove unused assets and try again.",
        )
    members: dict[str, zipfile.ZipInfo] = {}
    declared = 0
    for info in infos:
        name = info.filename
        check_path(name[:-1] if info.is_dir() else name, "The CHARX member name")
        if info.is_dir():
            continue
        if name in members:
            raise _corrupt(f"the name {name!r} appears twice")
        if info.flag_bits & 0x1:
            raise CardError(
                "unsupported_format",
                f"The CHARX member {name!r} is encrypted; export the card without a password.",
            )
        declared += info.file_size
        if declared > limits.max_charx_total_bytes:
            raise CardError(
                "zip_bomb",
                "The CHARX file declares more than "
                f"{limits.max_charx_total_bytes:,} bytes uncompressed (the limit).",
            )
        if info.file_size > limits.compression_ratio_min_bytes and info.file_size > (
            limits.max_compression_ratio * max(info.compress_size, 1)
        ):
            raise CardError(
                "zip_bomb",
                f"The CHARX member {name!r} would inflate {info.compress_size:,} bytes to "
                f"{info.file_size:,}, past the {limits.max_compression_ratio}x ratio limit.",
            )
        members[name] = info
    return members


class _Reader:
    """Reads members while counting real (not declared) output against the limits."""

    def __init__(self, archive: zipfile.ZipFile, limits: CardLimits) -> None:
        self.archive = archive
        self.limits = limits
        self.total = 0
        self.cache: dict[str, bytes] = {}

    def read(self, info: zipfile.ZipInfo, cap: int) -> bytes:
        """A member's bytes, stopping as soon as any limit is passed."""
        if info.filename in self.cache:
            return self.cache[info.filename]
        limits, name = self.limits, info.filename
        if info.file_size > cap:
            raise CardError(
                "too_large",
                f"The CHARX member {name!r} is {info.file_size:,} bytes; the limit is {cap:,}.",
            )
        parts: list[bytes] = []
        size = 0
        try:
            with self.archive.open(info) as stream:
                while part := stream.read(_READ_STEP):
                    size += len(part)
                    self.total += len(part)
                    if size > cap:
                        raise CardError(
                            "too_large", f"The CHARX member {name!r} is over {cap:,} bytes."
                        )
                    if self.total > limits.max_charx_total_bytes:
                        raise CardError(
                            "zip_bomb",
                            f"The CHARX file inflates past {limits.max_charx_total_bytes:,} "
                            "bytes (the limit).",
                        )
                    ratio_limit = limits.max_compression_ratio * max(info.compress_size, 1)
                    if size > limits.compression_ratio_min_bytes and size > ratio_limit:
                        raise CardError(
                            "zip_bomb",
                            f"The CHARX member {name!r} inflates past the "
                            f"{limits.max_compression_ratio}x compression ratio limit.",
                        )
                    parts.append(part)
        except NotImplementedError as exc:
            raise CardError("unsupported_format", f"CHARX member {name!r}: {exc}.") from None
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, RuntimeError) as exc:
            raise _corrupt(f"member {name!r}: {exc}") from None
        data = b"".join(parts)
        self.cache[name] = data
        return data


def _take_avatar(
    assets: list[dict[str, Any]], members: dict[str, zipfile.ZipInfo], reader: _Reader
) -> bytes | None:
    """The avatar's bytes; its icon descriptors are rewritten to `ccdefault:` in place."""
    limits = reader.limits
    icons = [
        d for d in assets if d["type"] == "icon" and (embedded_path(d["uri"]) or "") in members
    ]
    chosen = next((d for d in icons if d["name"] == "main"), icons[0] if icons else None)
    if chosen is not None:
        avatar_uri = chosen["uri"]
        avatar = reader.read(members[embedded_path(avatar_uri) or ""], limits.max_asset_bytes)
        # Normalised form: the avatar travels beside the card and `ccdefault:` points at it,
        # so the same card reads the same from PNG, JSON and CHARX.
        for descriptor in icons:
            if descriptor["uri"] == avatar_uri:
                descriptor["uri"] = "ccdefault:"
        return avatar
    referenced = {embedded_path(d["uri"]) for d in assets}
    for ext in _LOOSE_AVATAR_EXTS:
        loose = f"{AVATAR_DIR}/main.{ext}"
        if loose in members and loose not in referenced:
            return reader.read(members[loose], limits.max_asset_bytes)
    return None


def _read_assets(
    assets: list[dict[str, Any]], members: dict[str, zipfile.ZipInfo], reader: _Reader
) -> list[CardAsset]:
    found: list[CardAsset] = []
    for descriptor in assets:
        path = embedded_path(descriptor["uri"])
        if path is None or path not in members:
            continue  # a dangling reference stays in the card, without bytes
        blob = reader.read(members[path], reader.limits.max_asset_bytes)
        check_image_size(blob, reader.limits, f"The CHARX asset {path!r}")
        found.append(CardAsset(descriptor["type"], descriptor["name"], descriptor["ext"], blob))
    return found


def read_charx(data: bytes, limits: CardLimits) -> ParsedCard:
    """Parse a CHARX file; the main icon becomes the avatar (its URI `ccdefault:`)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as exc:
        raise _corrupt(str(exc)) from None
    with archive:
        members = _members(archive, limits)
        reader = _Reader(archive, limits)
        if CARD_MEMBER not in members:
            raise CardError(
                "missing_card_json",
                "The CHARX file has no card.json at its top level, so it holds no card. "
                "Export the card again from its app.",
            )
        raw = reader.read(members[CARD_MEMBER], limits.max_json_bytes)
        card, spec = normalize_card(load_json(raw, limits, "card.json"), limits)
        assets: list[dict[str, Any]] = card["data"]["assets"]
        avatar = _take_avatar(assets, members, reader)
        if avatar is not None:
            check_image_size(avatar, limits, "The CHARX avatar")
        found = _read_assets(assets, members, reader)
    return ParsedCard(card, "charx", spec, avatar, found)


def _safe(part: str, fallback: str) -> str:
    cleaned = _UNSAFE.sub("_", part).strip("._")
    return cleaned[:80] or fallback


def _category(ext: str) -> str:
    lowered = ext.lower()
    return next((k for k, exts in _CATEGORIES.items() if lowered in exts), "other")


def _sniff_ext(image: bytes) -> str:
    if image.startswith(b"\xff\xd8\xff"):
        return "jpg"
    if image[:4] == b"RIFF" and image[8:12] == b"WEBP":
        return "webp"
    if image.startswith((b"GIF87a", b"GIF89a")):
        return "gif"
    return "png"


def _allocate(folder: str, stem: str, ext: str, taken: set[str]) -> str:
    path, n = f"{folder}/{stem}.{ext}", 1
    while path in taken:
        n += 1
        path = f"{folder}/{stem}_{n}.{ext}"
    taken.add(path)
    return path


def _new_path(asset: CardAsset, taken: set[str]) -> str:
    ext = _safe(asset.ext, "bin")
    folder = f"assets/{_safe(asset.type, 'other')}/{_category(ext)}"
    return _allocate(folder, _safe(asset.name, "asset"), ext, taken)


def write_charx(card: dict[str, Any], avatar: bytes | None, assets: Sequence[CardAsset]) -> bytes:
    """A CHARX archive for a normalised card, its avatar and its assets."""
    data = dict(card["data"])
    descriptors = [dict(d) for d in data["assets"]]
    taken = {CARD_MEMBER} | {p for d in descriptors if (p := embedded_path(d["uri"]))}
    files: dict[str, bytes] = {}
    if avatar is not None:
        ext = _sniff_ext(avatar)
        defaults = [d for d in descriptors if d["type"] == "icon" and d["uri"] == "ccdefault:"]
        if defaults:
            path = _allocate(AVATAR_DIR, "main", ext, taken)
            for descriptor in defaults:
                descriptor["uri"] = f"embeded://{path}"
            files[path] = avatar
        elif f"{AVATAR_DIR}/main.{ext}" not in taken:
            # No icon asset to point at it: store it loose where read_charx looks for it.
            files[f"{AVATAR_DIR}/main.{ext}"] = avatar
    used: set[int] = set()
    for asset in assets:
        index = next(
            (
                i
                for i, d in enumerate(descriptors)
                if i not in used
                and (d["type"], d["name"], d["ext"]) == (asset.type, asset.name, asset.ext)
                and embedded_path(d["uri"]) is not None
            ),
            None,
        )
        if index is not None:
            used.add(index)
            path = embedded_path(descriptors[index]["uri"]) or ""
            if path == CARD_MEMBER or files.get(path, asset.data) != asset.data:
                # Two different blobs cannot share one path: give this one its own.
                path = _new_path(asset, taken)
                descriptors[index]["uri"] = f"embeded://{path}"
        else:
            path = _new_path(asset, taken)
            descriptors.append(
                {
                    "type": asset.type,
                    "uri": f"embeded://{path}",
                    "name": asset.name,
                    "ext": asset.ext,
                }
            )
            used.add(len(descriptors) - 1)
        files[path] = asset.data
    data["assets"] = descriptors
    document = card_for_export({**card, "data": data})
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, blob in [(CARD_MEMBER, dump_json(document)), *files.items()]:
            info = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, blob)
    return buffer.getvalue()
