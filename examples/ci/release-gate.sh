#!/usr/bin/env bash
# Release gate for CI: promote a signed decision, or fail the job with every reason.
#
#   examples/ci/release-gate.sh SCENARIO DECISION [ALIAS]
#
# Exit codes (from `releasegate promote`): 0 promoted (or already the alias), 1 blocked (gate not
# PASS, an approval missing or invalid, digests stale, decision replayed), 2 bad input.
# Environment: RELEASEGATE_LEDGER_URL (postgresql+psycopg://...), RELEASEGATE_MLFLOW_URI, and
# optionally RELEASEGATE_KEYRING (default: keyring.yaml in the repository).
set -euo pipefail

scenario="${1:?usage: release-gate.sh SCENARIO DECISION [ALIAS]}"
decision="${2:?usage: release-gate.sh SCENARIO DECISION [ALIAS]}"
alias_name="${3:-champion}"
rg="${RELEASEGATE:-releasegate}"
summary="${GITHUB_STEP_SUMMARY:-/dev/null}"

echo "## releasegate: ${scenario} -> ${alias_name}" >>"$summary"

# Who signed, for which role: printed for the log and the job summary (never fails the job alone:
# `promote` decides, and lists every reason).
"$rg" verify "$decision" | tee -a "$summary" || true

set +e
"$rg" promote --scenario "$scenario" --decision "$decision" --alias "$alias_name" 2>&1 | tee promote.log
status=${PIPESTATUS[0]}
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
