#!/usr/bin/env bash
# The one test command: installs the pinned claude CLI if needed, then runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-claude-cli.sh
exec cargo test --locked "$@"
