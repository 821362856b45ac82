"""Troubleshooting commands: `engine verify | connections | limits | jobs | new`.

They open the same store and specs as `engine serve` (from the same ENGINE_* environment), so
what they show is what the running service sees. They never print a token or a secret value.
"""
