#!/usr/bin/env bash
# Run Eclipse KUKSA databroker's own integration test, unmodified, against `carmesh run`.
#
#   scripts/kuksa-integration-test.sh PATH/TO/kuksa-databroker
#
# PATH/TO/kuksa-databroker is a checkout of https://github.com/eclipse-kuksa/kuksa-databroker;
# its integration_test/test_databroker.py runs with its own requirements.txt in a throwaway
# virtualenv (it pins kuksa-client 0.5.1), with DATABROKER_ADDRESS pointing at carmesh. The
# test publishes Vehicle.Speed itself, so carmesh runs without a vehicle provider, as the
# databroker in that test does.
set -euo pipefail

kuksa=${1:?usage: $0 PATH/TO/kuksa-databroker}
here=$(cd "$(dirname "$0")/.." && pwd)
test_dir="$kuksa/integration_test"
[ -f "$test_dir/test_databroker.py" ] || { echo "no integration_test/test_databroker.py in $kuksa" >&2; exit 2; }

work=$(mktemp -d)
trap 'kill "$car" 2>/dev/null || true; rm -rf "$work"' EXIT

python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet -r "$test_dir/requirements.txt"

port=${PORT:-55599}
"$here/.venv/bin/carmesh" run --data-dir "$work/car" --grpc "127.0.0.1:$port" --vehicle none >"$work/car.log" 2>&1 &
car=$!
for _ in $(seq 50); do
    grep -q "Press Ctrl-C to stop." "$work/car.log" 2>/dev/null && break
    sleep 0.2
done
grep -q "Press Ctrl-C to stop." "$work/car.log" || { cat "$work/car.log" >&2; exit 1; }

DATABROKER_ADDRESS="127.0.0.1:$port" "$work/venv/bin/python" -m pytest -v "$test_dir/test_databroker.py"
