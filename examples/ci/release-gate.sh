#!/usr/bin/env bash
# Release gate for CI: promote a signed decision, or fail the job with every reason.
#
#   examples/ci/release-gate.sh SCENARIO DECISION [ALIAS]
#   examples/ci/release-gate.sh --check SCENARIO DECISION [ALIAS]   (validate the arguments only)
#
# The arguments come from workflow inputs and file names: they are validated here (a scenario id,
# a .dsse.json path of plain characters without "..", an alias name) and only ever expanded quoted.
# Exit codes (from `releasegate promote`): 0 promoted (or already the alias), 1 blocked (gate not
# PASS, an approval missing or invalid, digests stale, decision replayed), 2 bad input.
# Environment: RELEASEGATE_LEDGER_URL (postgresql+psycopg://...), RELEASEGATE_MLFLOW_URI,
# RELEASEGATE_TRUST_ROOT and RELEASEGATE_LEDGER_PUBKEY (protected CI variables), optionally
# RELEASEGATE_KEYRING (default: keyring.yaml in the repository).
set -euo pipefail

check_only=0
if [ "${1:-}" = "--check" ]; then
  check_only=1
  shift
fi
scenario="${1:?usage: release-gate.sh [--check] SCENARIO DECISION [ALIAS]}"
decision="${2:?usage: release-gate.sh [--check] SCENARIO DECISION [ALIAS]}"
alias_name="${3:-champion}"
rg="${RELEASEGATE:-releasegate}"
summary="${GITHUB_STEP_SUMMARY:-/dev/null}"

bad_input() {
  printf '::error title=bad input::%s\n' "$1" >&2
  exit 2
}
[[ "$scenario" =~ ^[a-z0-9][a-z0-9_-]{0,63}$ ]] || bad_input "scenario id must match [a-z0-9][a-z0-9_-]*"
[[ "$decision" =~ ^[A-Za-z0-9_/][A-Za-z0-9._/-]*\.dsse\.json$ ]] \
  || bad_input "decision must be a .dsse.json path of letters, digits and ._/- (not starting with -)"
[[ "$decision" != *..* ]] || bad_input "decision path must not contain '..'"
[[ "$alias_name" =~ ^[a-z][a-z0-9_-]{0,63}$ ]] || bad_input "alias must match [a-z][a-z0-9_-]*"
if [ "$check_only" = 1 ]; then
  exit 0
fi

echo "## releasegate: ${scenario} -> ${alias_name}" >>"$summary"

# Who signed, for which role: printed for the log and the job summary (never fails the job alone:
# `promote` decides, and lists every reason).
"$rg" verify "$decision" | tee -a "$summary" || true

set +e
"$rg" promote --scenario "$scenario" --decision "$decision" --alias "$alias_name" 2>&1 | tee promote.log
status="${PIPESTATUS[0]}"
set -e

{
  echo '```'
  cat promote.log
  echo '```'
} >>"$summary"

case "$status" in
  0) echo "release gate passed" ;;
  1) echo "::error title=release blocked::the gate failed or an approval is missing (see the reasons above)" ;;
  2) echo "::error title=bad input::releasegate could not read the scenario or the decision" ;;
  *) echo "::error title=releasegate error::exit status $status" ;;
esac
exit "$status"
