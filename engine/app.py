"""The ASGI application configured from the environment: `uvicorn engine.app:app`."""

from __future__ import annotations

from engine.api.app import create_app

app = create_app()
