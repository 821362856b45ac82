#!/usr/bin/env bash
# The built wheel works outside the checkout: build it, install it into a fresh venv, and from an
# empty directory validate the specs the package ships and start `engine serve` until /readyz.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d /tmp/engine-wheel.XXXXXX)
trap 'kill "${server:-0}" 2>/dev/null || true; rm -rf "$work"' EXIT

python3 -m pip wheel --quiet --no-deps --wheel-dir "$work/dist" "$root" >/dev/null
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet --disable-pip-version-check "$work"/dist/*.whl
cd "$work"
mkdir empty && cd empty
py="$work/venv/bin/python"
shipped=$("$py" -c 'from engine.spec.catalogue import SHIPPED_VENDORS_DIR; print(SHIPPED_VENDORS_DIR)')
case "$shipped" in "$root"*) echo "wheel: the specs resolve into the checkout ($shipped)" >&2; exit 1;; esac
"$work/venv/bin/engine" validate "$shipped"/*.yaml
"$py" -c 'import sandbox, sandbox.vendors.whoop; print("wheel: the sandbox package is installed")'

port=$("$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
ENGINE_DATA_DIR="$work/data" "$work/venv/bin/engine" serve --port "$port" --log-format text \
  >"$work/serve.log" 2>&1 &
server=$!
"$py" - "$port" <<'PY'
import sys, time, urllib.request
url = f"http://127.0.0.1:{sys.argv[1]}/readyz"
deadline = time.monotonic() + 60
while True:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            assert answer.status == 200, answer.status
            print(f"wheel: engine serve answered {url} with 200")
            break
    except (OSError, AssertionError):
        if time.monotonic() > deadline:
            sys.exit("wheel: engine serve never became ready")
        time.sleep(0.5)
PY
