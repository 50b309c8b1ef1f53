"""Federation (ActivityPub)."""
