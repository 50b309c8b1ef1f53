"""What characters remember: the memory stream, recall, importance, reflection, and what
people may see and delete of it. Used by chat and the agents; imports neither."""
