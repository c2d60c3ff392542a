#!/usr/bin/env bash
# A stand-in for the `claude` CLI that speaks just enough stream-json for load tests and the
# latency bench: for every user message on stdin it prints `system/init` (first time only), one
# assistant text and a `result` echoing the prompt ("stub: <prompt>"), at once.
#
# Why it exists: the real CLI at 200 chats would measure node start-up and the fake model, not
# ccgate. When a file `stub.log` exists next to this script (the bench creates it), each
# process appends `in <epoch> <prompt>` (message read) and `res <epoch> <prompt>` (just before
# the result is printed) to it; otherwise it writes nothing but stdout.
# Each process also appends `start <pid> <session id> <arguments>` to `stub.args` (same
# condition), so tests see `--resume`. With `--resume <id>` the session keeps its id, as the
# real CLI's does. A prompt starting with `slow<N>` waits N seconds before its result.
# No JSON parser: the prompt is taken from `"content":"…"` up to the first quote or backslash
# (the bench's prompts are plain words; a webhook run's prompt is cut at its first line break).
log="$(dirname "$0")/stub.log"
[ -f "$log" ] || log=/dev/null
sid="$(cat /proc/sys/kernel/random/uuid 2>/dev/null || echo 00000000-0000-4000-8000-$$)"
prev=""
for a in "$@"; do
  [ "$prev" = --resume ] && sid="$a"
  prev="$a"
done
[ "$log" = /dev/null ] || printf 'start %s %s %s\n' "$$" "$sid" "$*" >>"$(dirname "$0")/stub.args"
init=0
while IFS= read -r line; do
  case "$line" in
    *'"type":"user"'*) ;;
    *) continue ;;
  esac
  t_in=$EPOCHREALTIME
  prompt=""
  if [[ $line =~ \"content\":\"([^\"\\]*) ]]; then prompt="${BASH_REMATCH[1]}"; fi
  if [ $init = 0 ]; then
    printf '{"type":"system","subtype":"init","session_id":"%s","model":"stub"}\n' "$sid"
    init=1
  fi
  if [[ $prompt =~ ^slow([0-9]+) ]]; then sleep "${BASH_REMATCH[1]}"; fi
  printf '{"type":"assistant","message":{"content":[{"type":"text","text":"stub: %s"}]},"session_id":"%s"}\n' "$prompt" "$sid"
  t_res=$EPOCHREALTIME
  printf 'in %s %s\nres %s %s\n' "$t_in" "$prompt" "$t_res" "$prompt" >>"$log"
  printf '{"type":"result","subtype":"success","is_error":false,"result":"stub: %s","session_id":"%s","num_turns":1,"duration_ms":1,"total_cost_usd":0,"usage":{"input_tokens":1,"output_tokens":1}}\n' "$prompt" "$sid"
done
