"""Synheart connector engine: wearable vendor clouds to normalized health samples.

Each vendor is one YAML spec; this package interprets specs at runtime.
"""

__version__ = "0.1.0"
