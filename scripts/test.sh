#!/usr/bin/env bash
# The one test command: installs the pinned claude CLI if needed, then runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-claude-cli.sh
# The OS boundary (bubblewrap) is part of what is tested; its tests fail without it, never skip.
if ! command -v bwrap >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap
  else
    echo "note: bubblewrap is missing (apt-get install bubblewrap); the containment tests will fail" >&2
  fi
fi
# SoftHSM2 is the PKCS#11 token the signed audit checkpoints are tested with; never skipped.
if ! command -v softhsm2-util >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq softhsm2
  else
    echo "note: softhsm2 is missing (apt-get install softhsm2); tests/audit_pkcs11.rs will fail" >&2
  fi
fi
exec cargo test --locked "$@"
