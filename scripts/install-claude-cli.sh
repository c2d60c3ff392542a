#!/usr/bin/env bash
# Install the pinned Claude Code CLI used by the end-to-end tests into tests/.claude-cli.
# Idempotent: does nothing when the pinned version is already there.
set -euo pipefail
VERSION="${CLAUDE_CLI_VERSION:-2.1.330}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DEST="$ROOT/tests/.claude-cli"
BIN="$DEST/node_modules/@anthropic-ai/claude-code-linux-x64/claude"

if [ -x "$BIN" ] && "$BIN" --version 2>/dev/null | grep -q "^$VERSION "; then
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "npm is required to install the claude CLI for the tests (apt-get install -y nodejs npm)" >&2
  exit 1
fi
mkdir -p "$DEST"
echo "installing @anthropic-ai/claude-code@$VERSION into $DEST" >&2
# Pinned: on Node 20 an unpinned install silently picks an older release (engines field).
npm install --no-save --no-audit --no-fund --loglevel=error --prefix "$DEST" \
  "@anthropic-ai/claude-code@$VERSION" >&2
if ! "$BIN" --version >/dev/null 2>&1; then
  echo "the claude binary did not install at $BIN" >&2
  exit 1
fi
