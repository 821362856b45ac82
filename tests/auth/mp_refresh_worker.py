"""One process of the multi-process refresh test: opens an engine on the shared store, waits for
the go signal, then asks for a fresh token N times at once and prints what it got as JSON."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path

from engine.engine import Engine, Settings
from engine.errors import EngineError


async def main(go_file: Path, vendor: str, user: str, callers: int) -> None:
    engine = Engine(Settings.from_env(dict(os.environ)))
    async with engine:
        print("ready", flush=True)
        while not go_file.exists():
            await asyncio.sleep(0.005)

        async def one() -> dict[str, str]:
            try:
                connection = await engine.oauth.fresh_connection(vendor, user)
                return {"token": connection.access_token or ""}
            except EngineError as error:
                return {"error": error.code}

        results = await asyncio.gather(*(one() for _ in range(callers)))
    print(json.dumps({"pid": os.getpid(), "at": time.time(), "results": results}), flush=True)


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])))
