#!/usr/bin/env bash
# Runs kumo's benchmarks and rewrites docs/benchmarks.md (bench/README.md says
# what each one measures): builds the bench targets and the web panel,
# records the machine (cores, CPU model, accelerator, load average), runs
# every benchmark with --json into a results directory, and has
# bench/report.py write the report, each figure next to its reference from
# the same run and its target.
#
#   scripts/bench.sh                 # full run, rewrites docs/benchmarks.md
#   scripts/bench.sh --smoke         # short run, report in BUILD/bench-smoke/
#   scripts/bench.sh --no-5000      # the scale benchmark at 1,000 servers only
#   scripts/bench.sh --build-dir B --no-build --out FILE
#   scripts/bench.sh --keep DIR      # also keep every benchmark's JSON in DIR
#
# Missed targets are reported, never an error: the exit status is non-zero
# only when a benchmark could not run. Every process a benchmark starts is
# stopped by its pid; all traffic stays on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."

smoke=0
build=build
do_build=1
no_5000=0
out=""
keep=""
while [ $# -gt 0 ]; do
  case "$1" in
    --smoke) smoke=1 ;;
    --no-build) do_build=0 ;;
    --no-5000) no_5000=1 ;;
    --build-dir) build="$2"; shift ;;
    --out) out="$2"; shift ;;
    --keep) keep="$2"; shift ;;
    *) echo "usage: scripts/bench.sh [--smoke] [--no-5000] [--build-dir DIR] [--no-build] [--out FILE] [--keep DIR]" >&2
       exit 2 ;;
  esac
  shift
done
if [ -z "$out" ]; then
  if [ "$smoke" = 1 ]; then out="$build/bench-smoke/benchmarks.md"; else out=docs/benchmarks.md; fi
fi
mkdir -p "$(dirname "$out")"
invocation="scripts/bench.sh"
[ "$smoke" = 1 ] && invocation+=" --smoke"
[ "$no_5000" = 1 ] && invocation+=" --no-5000"

if [ "$do_build" = 1 ]; then
  cmake --build "$build" --target agent_bench scale_bench api_load_bench guest_bench kumod kumo-agent
  bash scripts/build-panel.sh
fi
# The panel benchmark drives Debian's Chromium; a browser is never downloaded.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1

results=$(mktemp -d "${TMPDIR:-/tmp}/kumo-bench-XXXXXX")
trap 'rm -rf "$results"' EXIT

# The benchmarks and their arguments: full, or smoke (short, no targets).
if [ "$smoke" = 1 ]; then
  agent_args=(--requests 200 --pipelined 2000)
  scale_args=(--servers 20 --steady-s 3 --list-requests 20 --watchers 5 --flag 5)
  scale_big=()
  api_args=(--servers 10 --clients 5 --seconds 2 --slowloris 10 --slowloris-s 2)
  panel_args=(--servers 30 --reference 10 --loads 2 --updates 10)
  guest_args=()  # real guests take minutes: ctest bench.guest_smoke runs it short
else
  agent_args=(--requests 5000 --pipelined 100000)
  scale_args=(--servers 1000 --steady-s 30 --list-requests 200 --watchers 50 --flag 100)
  scale_big=(--servers 5000 --steady-s 30 --list-requests 100 --watchers 50 --flag 100)
  api_args=(--servers 100 --clients 50 --seconds 20 --slowloris 100 --slowloris-s 10)
  panel_args=(--servers 1000 --reference 10 --loads 5 --updates 20)
  guest_args=(--trials 10 --boots 5)
fi
not_run_5000=""
if [ "$no_5000" = 1 ] && [ ${#scale_big[@]} -gt 0 ]; then
  scale_big=()
  not_run_5000="4. Scale at 5,000 servers (--no-5000)"
fi

declare -A commands=()
benches=()
failed=()
run() {  # run NAME BINARY ARGS...
  local name="$1"; shift
  benches+=("$name")
  commands[$name]="$* --json RESULTS/$name.json"
  echo "== $name: $*" >&2
  if ! "$@" --json "$results/$name.json"; then
    echo "bench.sh: $name failed" >&2
    failed+=("$name")
  fi
}

load_start=$(cut -d' ' -f1-3 /proc/loadavg)
run agent "$build/bench/agent_bench" "${agent_args[@]}"
run scale "$build/bench/scale_bench" "${scale_args[@]}"
if [ ${#scale_big[@]} -gt 0 ]; then run scale-5000 "$build/bench/scale_bench" "${scale_big[@]}"; fi
run api "$build/bench/api_load_bench" "${api_args[@]}"
run panel node web/bench/run.mjs --kumod "$build/bin/kumod" "${panel_args[@]}"
if [ ${#guest_args[@]} -gt 0 ]; then run guest "$build/bench/guest_bench" "${guest_args[@]}"; fi
load_end=$(cut -d' ' -f1-3 /proc/loadavg)

if [ -r /dev/kvm ] && [ -w /dev/kvm ]; then kvm="KVM available"; else kvm="no KVM on this host"; fi
commands_json=$(for k in "${!commands[@]}"; do printf '%s\t%s\n' "$k" "${commands[$k]}"; done)
python3 - "$results/machine.json" <<EOF
import json, os, subprocess, sys
model = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
              if l.startswith("model name")), "unknown")
mem = next((l.split(":", 1)[1].strip() for l in open("/proc/meminfo")
            if l.startswith("MemTotal")), "?")
commit = subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True,
                        text=True).stdout.strip() or "unknown"
commands = dict(l.split("\t", 1) for l in """$commands_json""".splitlines() if l)
json.dump({
    "date": subprocess.run(["date", "-u", "+%Y-%m-%d %H:%M UTC"], capture_output=True,
                           text=True).stdout.strip(),
    "cores": os.cpu_count(), "cpu_model": model,
    "memory": "memory %.1f GiB" % (int(mem.split()[0]) / 1048576),
    "accelerator": "parts 1 and 4-6: none needed (agents and kumod's fake driver run as "
                   "host processes); parts 2 and 3: real guests under TCG ($kvm)",
    "load_start": "$load_start", "load_end": "$load_end", "commit": commit,
    "command": "$invocation", "benches": "${benches[*]}".split(), "commands": commands,
    "not_run": [
        "2. and 3. Detection and operations with real guests (a smoke run leaves them to "
        "ctest bench.guest_smoke)" if "$smoke" == "1" else "",
        "$not_run_5000",
    ],
}, open(sys.argv[1], "w"), indent=2)
EOF
python3 bench/report.py "$results" --out "$out"
if [ -n "$keep" ]; then mkdir -p "$keep" && cp "$results"/*.json "$keep"/; fi
echo "bench.sh: report written to $out" >&2
if [ ${#failed[@]} -gt 0 ]; then
  echo "bench.sh: failed: ${failed[*]}" >&2
  exit 1
fi
