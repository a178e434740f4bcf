"""Slack adapters: one module per entry point (registered by `entry_points`), and the
clients, delivery and formatting they share."""
