#!/usr/bin/env python3
"""Writes docs/benchmarks.md from one run of scripts/bench.sh.

Reads RESULTS/machine.json (what bench.sh recorded of the machine and the run)
and RESULTS/<bench>.json (the figures each benchmark wrote with --json), and
writes a Markdown report: each figure next to its reference from the same run,
its target and whether it is met, then a closing note on every missed target.
A benchmark whose file is missing is listed as not run. Exit status 0 when the
report was written (missed targets included), 1 when a results file is not
valid JSON.
"""
import argparse
import json
import os
import sys

# What limits a figure when its target is missed, by row key.
LIMITS = {
    "agent.hwm_hostile": (
        "kumo-agent holds up to 256 KiB of a request before it refuses it and discards the "
        "rest (src/qga/qga_framer.h, kMaxRequestBytes), on top of what the load left resident "
        "(compare 'peak RSS under load')."
    ),
    "scale.cpu": (
        "every running server costs kumod a heartbeat round trip a second, and every 5 s a "
        "kumo-health poll, a /proc read of its QEMU (the fake driver: its agent) and a series "
        "sample written to disk."
    ),
    "api.slowloris": (
        "kumod closes a connection whose request has not fully arrived within its idle "
        "timeout (src/api/connection_limit.h); until then every dripped byte is a read on "
        "the one event loop that also serves the normal requests."
    ),
    "scale.rss": (
        "each server costs kumod about 40 KiB (200 servers: 13 MiB; 1,000: 41 MiB, measured "
        "2026-12-02). Console brokers and agent links hold no read buffer of their own: they "
        "wait until their descriptor is readable and read into the loop's one buffer "
        "(src/common/loop_read_buffer.h); before that, 200 servers took 29 MiB."
    ),
    "scale.list_p99": (
        "the list itself is about 5 ms at 1,000 servers: each server's JSON is kept from its "
        "last change (src/api/rendered_servers.h) and copied, 460 KB in all. Its slow samples "
        "are requests that waited on kumod's one event loop behind the heartbeat's answers and "
        "the diagnosis's looks (100 servers every 100 ms and every 500 ms: "
        "src/core/heartbeat.h, src/diagnosis/server_observer.h) and behind the store: every "
        "server's last-seen time is written every 10 s, about 100 SQLite commits a second at "
        "1,000 servers, each with a full sync (fdatasync, 0.65 ms on this disk). Fewer commits "
        "(last-seen kept in memory, written less often) or a second thread for the API's reads "
        "would take the rest."
    ),
    "panel.render_p50_ms": (
        "the list builds the rows that fill the screen in one task once its answer has come, "
        "and the rest while the browser is idle (web/src/pages/list.ts), so what grows with the "
        "servers is the list's answer (compare the 'of which' rows with their references): "
        "kumod renders it on its one event loop beside a heartbeat per server per second, and "
        "the page reads and parses every record; the fixed part (the page, the bundle, the "
        "session: the reference) stays."
    ),
    "panel.update_p99_ms": (
        "a row's update is one JSON parse and the changed cells of one row; a slow sample is "
        "a message that waited behind other work on the page's one thread."
    ),
    "scale.flag": (
        "an agent is flagged after two missed pings of the 1 s heartbeat, each given 950 ms "
        "(src/core/heartbeat.h): one stopped just after it answered is flagged 2.95 s later at "
        "the earliest, and each flag is a SQLite commit with a full sync on the one loop. With "
        "the pings spread over the second, the last of 100 agents is always near that bound. "
        "A shorter ping deadline, or one missed ping instead of two, would meet 3 s with "
        "margin, each traded against false warnings from a loaded guest that answers late."
    ),
    "guest.boot_ratio": (
        "the bare boot is measured by a client that asks the agent every 100 ms from QEMU's "
        "start; kumod asks through its heartbeat, asks again when the guest opens the agent's "
        "port (QMP VSERPORT_CHANGE), ends the task on the answer and writes it to the store "
        "before the watch stream says running."
    ),
}


def row(key, part, figure, value, unit, reference=None, target=None, met=None):
    return dict(key=key, part=part, figure=figure, value=value, unit=unit,
                reference=reference, target=target, met=met)


def fmt(value, unit):
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        value = f"{value:,.0f}" if abs(value) >= 100 else f"{value:.2f}"
    elif isinstance(value, int):
        value = f"{value:,}"
    return f"{value} {unit}".strip()


def agent_rows(f):
    kumo = f["agents"].get("kumo-agent")
    ref = f["agents"].get("qemu-ga", {})
    if not kumo:
        return [row("agent.failed", "1. Agent", "kumo-agent", "failed", "")]
    rows = []

    def compare(key, figure, field, unit, lower_is_better=True):
        value, reference = kumo[field], ref.get(field)
        met = None
        if reference is not None:
            met = value <= reference if lower_is_better else value >= reference
        target = ("≤ qemu-ga" if lower_is_better else "≥ qemu-ga") if reference is not None else None
        rows.append(row(key, "1. Agent", figure, value, unit, reference, target, met))

    compare("agent.ping_p50", "sequential guest-ping, p50", "ping_p50_us", "µs")
    compare("agent.ping_p99", "sequential guest-ping, p99", "ping_p99_us", "µs")
    compare("agent.pipelined", f"pipelined guest-ping ({kumo['pipelined']:,} in flight)",
            "pipelined_per_s", "req/s", lower_is_better=False)
    compare("agent.mixed", "information commands one at a time (" +
            ", ".join(kumo["mixed_commands"]) + ")", "mixed_per_s", "req/s",
            lower_is_better=False)
    # kumo-agent's own: no reference. It scans /proc for sshd, so on the host its
    # cost grows with the machine's processes (a guest has few).
    rows.append(row("agent.health", "1. Agent",
                    "kumo-health one at a time (kumo-agent only; scans the host's /proc)",
                    kumo["health_per_s"], "req/s"))
    compare("agent.cpu", "CPU per 100k guest-pings", "cpu_s_per_100k", "s")
    rows.append(row("agent.hwm_load", "1. Agent", "peak RSS under load", kumo["hwm_kib_load"],
                    "KiB", ref.get("hwm_kib_load"), "≤ 1,536 KiB", kumo["hwm_kib_load"] <= 1536))
    rows.append(row("agent.rss_hostile", "1. Agent", "RSS after hostile input",
                    kumo["rss_kib_after_hostile"], "KiB", ref.get("rss_kib_after_hostile")))
    rows.append(row("agent.hwm_hostile", "1. Agent", "peak RSS after hostile input",
                    kumo["hwm_kib_after_hostile"], "KiB", ref.get("hwm_kib_after_hostile"),
                    "≤ 1,536 KiB", kumo["hwm_kib_after_hostile"] <= 1536))
    answered = f"{kumo['hostile_answered']}/{kumo['hostile_inputs']}"
    ref_answered = (f"{ref['hostile_answered']}/{ref['hostile_inputs']}" if ref else None)
    rows.append(row("agent.hostile", "1. Agent", "still answers after each hostile input",
                    answered, "", ref_answered, "all",
                    kumo["hostile_answered"] == kumo["hostile_inputs"]))
    return rows


def targets_only_at_1000(rows, n):
    """The targets are for 1,000 servers; other sizes are reported as measured."""
    if n != 1000:
        for r in rows:
            r["target"], r["met"] = None, None
    return rows


def scale_rows(f):
    n = f["servers"]
    part = f"4. Scale ({n:,} servers)"
    rows = [
        row("scale.cpu", part, f"kumod CPU at steady state ({f['steady_s']:.0f} s)",
            f["cpu_percent"], "% of a core", None, "≤ 10%", f["cpu_percent"] <= 10),
        row("scale.rss", part, "kumod RSS at steady state", f["rss_mib"], "MiB", None,
            "≤ 150 MiB", f["rss_mib"] <= 150),
        row("scale.list_p50", part, "GET /v1/servers, p50", f["list_p50_ms"], "ms"),
        row("scale.list_p99", part, "GET /v1/servers, p99", f["list_p99_ms"], "ms", None,
            "≤ 20 ms", f["list_p99_ms"] <= 20),
    ]
    if "fanout_clients" in f:
        for q in ("p50", "p99"):
            rows.append(row(f"scale.fanout_{q}", part,
                            f"watch fan-out to {f['fanout_clients']} clients: change requested "
                            f"→ each client told, {q}", f[f"fanout_{q}_ms"], "ms"))
    if "flag_s" in f:
        rows.append(row("scale.flag", part,
                        f"{f['flag_agents']} agents stopped at once → all flagged `warning`",
                        f["flag_s"], "s", None, "≤ 3 s", f["flag_s"] <= 3))
    if "diagnose_s" in f:
        rows.append(row("scale.diagnose", part, f"diagnosis of all {n:,}", f["diagnose_s"], "s"))
    return targets_only_at_1000(rows, n)


def api_rows(f):
    part = f"5. API under load ({f['servers']:,} servers)"
    load = f"{f['load_clients']} clients for {f['load_seconds']:.0f} s"
    rows = [
        row("api.rate", part, f"{load}: requests", f["load_per_s"], "req/s"),
        row("api.p50", part, f"{load}: latency p50", f["load_p50_ms"], "ms"),
        row("api.p99", part, f"{load}: latency p99", f["load_p99_ms"], "ms"),
        row("api.errors", part, f"{load}: errors", f["load_errors"], "", None, "0",
            f["load_errors"] == 0),
    ]
    if "slowloris_delay_ms" in f:
        n = f["slowloris_connections"]
        rows += [
            row("api.slowloris", part,
                f"slowloris of {n} connections: a normal request's p99, slower by",
                f["slowloris_delay_ms"], "ms", None, "≤ 100 ms", f["slowloris_delay_ms"] <= 100),
            row("api.slowloris_failures", part, "normal requests failed during the slowloris",
                f["slowloris_probe_failures"], "", None, "0", f["slowloris_probe_failures"] == 0),
            row("api.slowloris_closed", part,
                f"slow connections closed by kumod within {f['slowloris_seconds']:.0f} s",
                f"{f['slowloris_closed_by_kumod']}/{n}", ""),
        ]
    return rows


def panel_rows(f):
    n, ref = f["servers"], f["ref_servers"]
    part = f"6. Panel ({n:,} servers; reference: the same page with {ref:,})"
    loads = f"{f['loads']} loads"

    def ms(key, figure, target=None, limit=None):
        value = float(f[key])
        return row(f"panel.{key}", part, figure, value, "ms", float(f["ref_" + key]), target,
                   None if limit is None else value <= limit)

    rows = [
        ms("render_p50_ms", f"first render of the list: navigation start → the first "
           f"screenful of its {n:,} rows in the DOM, p50 of {loads}", "≤ 200 ms", 200),
        ms("render_max_ms", f"first render of the list, slowest of {loads}"),
        ms("list_answered_p50_ms", "of which: navigation start → GET /v1/servers answered "
           "(page, bundle, session, list), p50"),
        ms("rows_built_p50_ms", "of which: the answer → the first screenful in the DOM, p50"),
        ms("complete_p50_ms", f"navigation start → all {n:,} rows in the DOM (the rest built "
           "while idle), p50"),
        ms("update_p50_ms", f"a row's update: watch message arrived → row updated, p50 of "
           f"{f['update_samples']} messages (reference: {f['ref_update_samples']})"),
        ms("update_p99_ms", "a row's update, p99", "≤ 16 ms", 16),
    ]
    return targets_only_at_1000(rows, n)


def guest_rows(f):
    d, o = f["detection"], f["operations"]

    def ms(key, part, figure, sample, quantile, target=None, limit=None, reference=None):
        value = float(sample[quantile])
        return row(key, part, figure + f", {quantile[:3]} of {sample['n']}", value, "ms",
                   reference, target, None if limit is None else value <= limit)

    detection = "2. Detection (a real guest under TCG)"
    operations = "3. Operations (a real guest under TCG)"
    frozen, oom = d["agent_frozen_to_warning"], d["oom_line_to_finding"]
    refused, force = o["graceful_stop_refused"], o["force_stop_to_stopped"]
    start, bare = o["start_to_running"], o["bare_boot_to_agent"]
    rows = [
        ms("guest.frozen_p50", detection, "agent frozen in the guest → the watch stream says "
           "warning", frozen, "p50_ms"),
        ms("guest.frozen_p99", detection, "agent frozen → warning", frozen, "p99_ms",
           "≤ 3,000 ms", 3000),
        ms("guest.oom_p50", detection, "an OOM kill's kernel line on the console → the "
           "oom_kill finding", oom, "p50_ms"),
        ms("guest.oom_p99", detection, "OOM kill's line → oom_kill finding", oom, "p99_ms",
           "≤ 10,000 ms", 10000),
        ms("guest.refused_p99", operations, "graceful stop with the agent frozen → its 409 "
           "error", refused, "p99_ms", "≤ 50 ms", 50),
        ms("guest.force_p99", operations, "force stop → the watch stream says stopped "
           "(persisted)", force, "p99_ms", "≤ 500 ms", 500),
        ms("guest.start_p50", operations, "start → running (reference: a bare QEMU boot of "
           "kumod's command line, the server's seed disk included → the agent's first answer)",
           start, "p50_ms", reference=float(bare["p50_ms"])),
        ms("guest.bare_no_seed_p50", operations, "of which the seed disk (reference: the same "
           "bare boot without it; the guest applies user data before it starts the agent)",
           bare, "p50_ms", reference=float(o["bare_boot_without_seed"]["p50_ms"]))
        if "bare_boot_without_seed" in o else None,
        row("guest.boot_ratio", operations, "kumod's overhead on a boot: start → running over "
            "the bare boot, medians", round(float(o["boot_overhead_ratio"]), 3), "", None,
            "≤ 1.05", float(o["boot_overhead_ratio"]) <= 1.05),
    ]
    return [r for r in rows if r is not None]


READERS = {"agent": agent_rows, "scale": scale_rows, "api": api_rows, "panel": panel_rows,
           "guest": guest_rows}


def machine_lines(m):
    return [
        f"- **When**: {m['date']} (load average at start: {m['load_start']}; at end: "
        f"{m.get('load_end', '?')})",
        f"- **Machine**: {m['cores']} cores, {m['cpu_model']}; {m['memory']}",
        f"- **Accelerator**: {m['accelerator']}",
        f"- **Commit**: {m['commit']}",
        f"- **Command**: `{m['command']}`",
    ]


def render(machine, results, missing):
    out = ["# Benchmarks", "",
           "Written by `scripts/bench.sh` (bench/report.py) from one run: each figure next to "
           "its reference measured in the same run, its target, and whether it is met. Do not "
           "edit by hand; run the script again.", ""]
    out += machine_lines(machine)
    out += ["", "A figure from a loaded or shared machine is noisy: compare it with the load "
            "average above, and with its reference, which ran under the same load.", ""]
    rows = [r for _, rs in results for r in rs]
    part = None
    for r in rows:
        if r["part"] != part:
            part = r["part"]
            out += ["", f"## {part}", "", "| figure | kumo | reference | target | met |",
                    "| --- | --- | --- | --- | --- |"]
        met = "—" if r["met"] is None else ("met" if r["met"] else "**MISSED**")
        out.append(f"| {r['figure']} | {fmt(r['value'], r['unit'])} | "
                   f"{fmt(r['reference'], r['unit'])} | {r['target'] or '—'} | {met} |")
    out += ["", "## Commands", ""]
    out += [f"- {name}: `{command}`" for name, command in machine.get("commands", {}).items()]
    out += ["", "## Not measured in this run", ""]
    not_run = [f"- {m}" for m in machine.get("not_run", []) if m]
    not_run += [f"- {name}: no results (the benchmark failed; see the run's output)"
                for name in missing]
    out += not_run or ["- (everything ran)"]
    missed = [r for r in rows if r["met"] is False]
    out += ["", "## Closing note", ""]
    if not missed:
        out.append("Every target measured in this run is met.")
    for r in missed:
        limit = LIMITS.get(r["key"], "not yet analysed.")
        out.append(f"- **{r['part']}, {r['figure']}**: {fmt(r['value'], r['unit'])} against "
                   f"{r['target']}. What limits it: {limit}")
    return "\n".join(out) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", help="directory with machine.json and <bench>.json")
    parser.add_argument("--out", required=True, help="the Markdown file to write")
    args = parser.parse_args()
    with open(os.path.join(args.results, "machine.json")) as f:
        machine = json.load(f)
    results, missing = [], []
    for name in machine.get("benches", []):
        path = os.path.join(args.results, f"{name}.json")
        if not os.path.exists(path):
            missing.append(name)
            continue
        try:
            with open(path) as f:
                figures = json.load(f)
        except json.JSONDecodeError as e:
            print(f"report.py: {path}: {e}", file=sys.stderr)
            return 1
        results.append((name, READERS[figures["bench"]](figures)))
    with open(args.out, "w") as f:
        f.write(render(machine, results, missing))
    return 0


if __name__ == "__main__":
    sys.exit(main())
