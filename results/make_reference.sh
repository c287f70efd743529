#!/usr/bin/env bash
# Make the reference result set: results/reference/ (or the directory given).
#
#   results/make_reference.sh [OUT_DIR]
#
# Runs every block below into OUT_DIR/reference.sqlite (a fresh store), then
# writes the tables, the samples to reach an error, a CSV export and the report
# next to it. Regenerate into another directory and compare with the reference:
#
#   results/make_reference.sh /tmp/regenerated
#   bfcbench compare results/reference/reference.sqlite /tmp/regenerated/reference.sqlite
#
# Environment: SEEDS (default 3), BFCBENCH (default .venv/bin/bfcbench), PYTHON
# (default .venv/bin/python); REUSE_STORE=1 keeps an existing store and only
# rewrites what is read from it.
set -euo pipefail
cd "$(dirname "$0")/.."

out=${1:-results/reference}
seeds=${SEEDS:-3}
bfcbench=${BFCBENCH:-.venv/bin/bfcbench}
python=${PYTHON:-.venv/bin/python}
store="$out/reference.sqlite"
mkdir -p "$out"

if [ "${REUSE_STORE:-0}" != 1 ]; then
    rm -f "$store" "$store-wal" "$store-shm"
fi

# One block per configuration: a name, then the options of `bfcbench run`.
block() {
    local name=$1
    shift
    echo "reference: block $name" >&2
    if [ "${REUSE_STORE:-0}" != 1 ]; then
        "$bfcbench" run --seeds "$seeds" --store "$store" "$@" >/dev/null
    fi
}

# The default comparison: every learner on the default hierarchical task at the
# default sample sizes.
block default

# The separation configuration is the hierarchical task's default (chosen in
# results/separation/); the default block holds it with every learner at its
# defaults. The separation compares against the best polynomial kernel of degrees
# 2 and 4, so the degree-4 kernel joins here.
block separation --learner kernel-poly --learner-param degree=4

"$bfcbench" table --store "$store" --format markdown >"$out/table.md"
"$bfcbench" table --store "$store" --format csv >"$out/table.csv"
"$bfcbench" table --store "$store" --metric fit_seconds --format markdown \
    >"$out/fit_seconds.md"
"$bfcbench" samples --store "$store" --eps 0.1,0.03,0.005 --format markdown \
    >"$out/samples.md"
"$bfcbench" samples --store "$store" --eps 0.1,0.03,0.005 --format csv >"$out/samples.csv"
"$bfcbench" export --store "$store" --out "$out/reference.csv"
"$bfcbench" report --store "$store" --out "$out/report" --eps 0.1,0.03,0.005 \
    --title "bfcbench reference results" >/dev/null

# A rollback journal instead of WAL, so the committed file stands alone.
"$python" - "$store" <<'PYTHON'
import sqlite3
import sys

connection = sqlite3.connect(sys.argv[1])
connection.execute("PRAGMA journal_mode = DELETE")
connection.close()
PYTHON
echo "reference: written to $out" >&2
