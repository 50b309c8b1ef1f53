"""Every federation address in one place: actor ids, inboxes, collections, note ids.

Ids are built from the configured public URL (`effective_base_url`), never from the
request's Host header, so they stay the same whichever proxy or port a request came
through; remote servers key everything on them.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

INSTANCE_ACTOR_PATH = "/actor"
DEFAULT_PORTS = {"http": 80, "https": 443}


def host_of(url: str) -> str:
    """host[:port] of a URL, lower case, the scheme's default port left out ('' if none).

    Normalised (no zero-padded or default ports) so one server always has one name.
    """
    try:
        parts = urlsplit(url)
        host, port = parts.hostname or "", parts.port
    except ValueError:
        return ""
    if ":" in host:  # an IPv6 literal keeps its brackets
        host = f"[{host}]"
    if port is None or DEFAULT_PORTS.get(parts.scheme) == port:
        return host
    return f"{host}:{port}"


@dataclass(frozen=True)
class Urls:
    """The addresses of one instance, from its public base URL (no trailing slash)."""

    base: str

    @classmethod
    def from_base(cls, base_url: str) -> Urls:
        """Urls for a base URL as configured (a trailing slash is dropped)."""
        return cls(base_url.rstrip("/"))

    @property
    def domain(self) -> str:
        """The WebFinger domain: host[:port] of the base URL, lower case."""
        return urlsplit(self.base).netloc.lower()

    def actor(self, handle: str) -> str:
        """A local actor's id."""
        return f"{self.base}/users/{handle}"

    def key_id(self, actor_id: str) -> str:
        """The id of an actor's public key (a fragment of the actor document)."""
        return f"{actor_id}#main-key"

    def inbox(self, handle: str) -> str:
        """A local actor's inbox."""
        return f"{self.actor(handle)}/inbox"

    def outbox(self, handle: str) -> str:
        """A local actor's outbox."""
        return f"{self.actor(handle)}/outbox"

    def followers(self, handle: str) -> str:
        """A local actor's followers collection."""
        return f"{self.actor(handle)}/followers"

    def following(self, handle: str) -> str:
        """A local actor's following collection."""
        return f"{self.actor(handle)}/following"

    @property
    def shared_inbox(self) -> str:
        """The instance-wide inbox."""
        return f"{self.base}/inbox"

    def profile(self, handle: str) -> str:
        """A local actor's HTML profile page."""
        return f"{self.base}/@{handle}"

    def acct(self, handle: str) -> str:
        """`handle@domain`, as people type it."""
        return f"{handle}@{self.domain}"

    def avatar(self, handle: str, version: str = "") -> str:
        """Where an actor's avatar image is served (`?v=` names its content; the address
        without it, or with an older version, still serves the current image)."""
        return f"{self.base}/api/v1/actors/{handle}/avatar" + (f"?v={version}" if version else "")

    def header(self, handle: str, version: str = "") -> str:
        """Where an actor's header image is served (versioned like the avatar)."""
        return f"{self.base}/api/v1/actors/{handle}/header" + (f"?v={version}" if version else "")

    def note(self, handle: str, post_id: str) -> str:
        """A post's ActivityPub id (its Note)."""
        return f"{self.actor(handle)}/statuses/{post_id}"

    def note_activity(self, handle: str, post_id: str) -> str:
        """The id of the Create activity that published a post."""
        return f"{self.note(handle, post_id)}/activity"

    def post_page(self, handle: str, post_id: str) -> str:
        """A post's HTML page."""
        return f"{self.base}/@{handle}/{post_id}"

    def tag(self, tag: str) -> str:
        """A hashtag's page."""
        return f"{self.base}/tags/{tag}"

    @property
    def instance_actor(self) -> str:
        """The instance actor's id (it signs the instance's own fetches)."""
        return f"{self.base}{INSTANCE_ACTOR_PATH}"

    @property
    def instance_inbox(self) -> str:
        """The instance actor's inbox."""
        return f"{self.instance_actor}/inbox"

    @property
    def instance_outbox(self) -> str:
        """The instance actor's outbox (always empty)."""
        return f"{self.instance_actor}/outbox"
