#!/usr/bin/env bash
# Record asv results for each commit given (default: HEAD) with the installed
# environment: check the commit out, run every benchmark, save the results under
# its hash; at the end, return to the branch or commit where it started.
#
#   benchmarks/record.sh [COMMIT...]     e.g. benchmarks/record.sh main HEAD
#
# asv's `existing` environment measures whatever bfcbench the venv imports, which
# with an editable install is the working tree; so the tree must be clean, and
# each commit must have benchmarks/. ASV_ARGS adds options to `asv run`, e.g.
# ASV_ARGS="--bench track_" to record only the test errors.
set -euo pipefail

# Everything in a function: bash reads a script as it runs, and a checkout may
# change this very file.
main() {
    cd "$(dirname "$0")/.."
    local asv=${ASV:-.venv/bin/asv}
    local config=benchmarks/asv.conf.json
    if [ -n "$(git status --porcelain --untracked-files=no)" ]; then
        echo "record: the working tree has changes; commit or stash them first" >&2
        return 1
    fi
    local start
    start=$(git symbolic-ref --quiet --short HEAD || git rev-parse HEAD)
    # Resolve every name first: checking out one commit moves HEAD.
    local hashes=()
    local commit
    for commit in "${@:-HEAD}"; do
        hashes+=("$(git rev-parse --verify "$commit^{commit}")")
    done
    # Expanded now: the trap runs after this function's locals are gone.
    # shellcheck disable=SC2064
    trap "git checkout --quiet '$start'" EXIT
    "$asv" machine --yes --config "$config" >/dev/null
    local hash
    for hash in "${hashes[@]}"; do
        echo "record: $hash" >&2
        git checkout --quiet --detach "$hash"
        # shellcheck disable=SC2086
        "$asv" run --config "$config" --set-commit-hash "$hash" ${ASV_ARGS:-}
    done
}

main "$@"
exit
