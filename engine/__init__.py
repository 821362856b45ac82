"""Synheart connector engine: wearable vendor clouds to normalized health samples.

Each vendor is one YAML spec; this package interprets specs at runtime.
"""

__version__ = "0.1.0"

__all__ = ["Engine", "__version__"]


def __getattr__(name: str):  # lazy, so `import engine.spec` stays light
    if name == "Engine":
        from engine.engine import Engine

        return Engine
    raise AttributeError(f"module 'engine' has no attribute {name!r}")
