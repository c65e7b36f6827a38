#!/usr/bin/env bash
# What the tests need beyond cargo, installed from Debian's packages when missing:
# - chromium: the report's HTML is opened in a real headless browser (harness/tests/report.rs).
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
