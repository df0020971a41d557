#!/usr/bin/env bash
# Reproduce the STOQ edge-network claims with STOQ Sim: runs the scenarios of
# topologies/repro/ and writes DIR/REPRODUCTION.md and DIR/reproduction.html.
#   tools/reproduce.sh [--quick] [--only NAME ...] [--out DIR] [--stoqsim PATH]
# Without --stoqsim it builds a release stoqsim first. See docs/reproduction.md.
set -euo pipefail
cd "$(dirname "$0")/.."
exec python3 tools/reproduce.py "$@"
