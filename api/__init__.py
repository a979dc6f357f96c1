"""The ways in: the KnowledgeBase facade, its configuration and backends, the CLI, the HTTP app and its web page."""
