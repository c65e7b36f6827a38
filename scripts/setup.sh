#!/usr/bin/env bash
# What the tests need beyond cargo, installed from Debian's packages when missing:
# - chromium: the report's HTML is opened in a real headless browser (harness/tests/report.rs).
# - .venv-dave/: a Python virtual environment with PyPI's `dave.py` (libdave, Discord's DAVE
#   implementation, as it ships), which the DAVE level's libdave sidecar runs in.
# - target/davey-sidecar/: the davey crate (crates.io) behind the DAVE level's sidecar protocol.
# Idempotent; `.ci/run` calls it first, so the README's test command works on a fresh machine.
set -euo pipefail
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "setup: installing ${missing[*]} (Debian packages)" >&2
  $sudo apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# libdave as it ships: the dave.py wheel from PyPI, pinned (1.1.0 speaks DAVE protocol 1).
venv="$(cd "$(dirname "$0")/.." && pwd)/.venv-dave"
if ! "$venv/bin/python" -c "import dave" >/dev/null 2>&1; then
  echo "setup: creating $venv with dave.py 1.1.0 (PyPI)" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "dave.py==1.1.0"
fi

# davey as it ships: the crate from crates.io, pinned by the sidecar's own lockfile.
root="$(cd "$(dirname "$0")/.." && pwd)"
CARGO_TARGET_DIR="$root/target/davey-sidecar" cargo build --release --locked --quiet \
  --manifest-path "$root/harness/sidecars/davey/Cargo.toml"
