"""The social network: actors, posts, the graph, timelines, search, moderation."""
