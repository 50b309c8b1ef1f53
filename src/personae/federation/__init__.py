"""Federation: ActivityPub discovery, actor documents, keys and (soon) delivery."""
