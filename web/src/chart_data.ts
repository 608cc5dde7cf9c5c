// Pure: kumod's metrics columns and the server's events → what the charts
// draw (uPlot's columns, x in seconds, null kept as a gap) and the markers
// on the time axis: OOM kills (the oom_kills column rising between samples,
// and timeline events of kind "oom") and status changes (events whose
// status differs from the one before, or of kind "status"). Table-tested in
// test/chart_data.test.ts.
import type { Metrics, ServerEvent } from './api';

export type Column = (number | null)[];
export type MarkerKind = 'oom' | 'status';

export interface Marker {
  kind: MarkerKind;
  time: number; // ms since the epoch
  // The event's message, or, for a rise of the counter alone, null (the
  // view says "OOM kill" in the user's language).
  message: string | null;
  count?: number; // kills in this step, for a counter rise
}

export interface ChartData {
  x: number[]; // seconds, for uPlot
  cpu: [Column, Column]; // qemu_cpu_percent, psi_cpu_some10
  memory: [Column, Column]; // used MiB, total MiB
  pressure: [Column, Column]; // psi_mem_some10, psi_mem_full10
  load: [Column]; // load1
  markers: Marker[];
}

function column(m: Metrics, key: string, n: number): Column {
  const c = m.series[key];
  const out: Column = [];
  for (let i = 0; i < n; i++) {
    const v = c?.[i];
    out.push(typeof v === 'number' && Number.isFinite(v) ? v : null);
  }
  return out;
}

const kib = (v: number) => Math.round((v / 1024) * 10) / 10;

// The time axis (ms): the whole window once the series fills it, else from a
// little before the first sample (at least 5 minutes shown), so that a new
// server's first minutes are not a sliver at the right edge of an hour.
export function visibleRange(m: Metrics): [number, number] {
  const kMinSpanMs = 5 * 60_000;
  const first = (m.series.time ?? []).find((v): v is number => typeof v === 'number');
  if (first === undefined) return [m.from, m.to];
  const start = Math.max(m.from, Math.min(first - 2 * stepMs(m), m.to - kMinSpanMs));
  return [start, m.to];
}

export function stepMs(m: Metrics): number {
  return m.step === '1m' ? 60_000 : 5_000;
}

// Where the OOM counter rose: between two known samples (a lower value is a
// new boot's counter, not a kill).
export function counterRises(time: Column, kills: Column): Marker[] {
  const out: Marker[] = [];
  let last: number | null = null;
  for (let i = 0; i < kills.length; i++) {
    const v = kills[i];
    const t = time[i];
    if (v === null || t === null) continue;
    if (last !== null && v > last) out.push({ kind: 'oom', time: t, message: null, count: v - last });
    last = v;
  }
  return out;
}

// Markers from the events (any order in; oldest first out).
export function eventMarkers(events: ServerEvent[]): Marker[] {
  const sorted = [...events].sort((a, b) => a.id - b.id);
  const out: Marker[] = [];
  let previous: string | null = null;
  for (const e of sorted) {
    const time = Date.parse(e.time);
    if (Number.isNaN(time)) continue;
    if (e.kind === 'oom') out.push({ kind: 'oom', time, message: e.message });
    else if (e.kind === 'status' || (previous !== null && e.status !== previous)) {
      out.push({ kind: 'status', time, message: e.message });
    }
    previous = e.status;
  }
  return out;
}

export function chartData(m: Metrics, events: ServerEvent[]): ChartData {
  const time = m.series.time ?? [];
  const n = time.length;
  const t = column(m, 'time', n);
  const total = column(m, 'mem_total_kib', n);
  const available = column(m, 'mem_available_kib', n);
  const used = total.map((v, i) => (v === null || available[i] === null ? null : kib(v - (available[i] as number))));
  const fromEvents = eventMarkers(events).filter((k) => k.time >= m.from && k.time <= m.to);
  // A counter rise near an "oom" event is the same kill, told by the event.
  const near = Math.max(2 * stepMs(m), 15_000);
  const eventOoms = fromEvents.filter((k) => k.kind === 'oom');
  const rises = counterRises(t, column(m, 'oom_kills', n)).filter(
    (r) => !eventOoms.some((e) => Math.abs(e.time - r.time) <= near),
  );
  return {
    x: t.map((v) => (v === null ? 0 : v / 1000)),
    cpu: [column(m, 'qemu_cpu_percent', n), column(m, 'psi_cpu_some10', n)],
    memory: [used, total.map((v) => (v === null ? null : kib(v)))],
    pressure: [column(m, 'psi_mem_some10', n), column(m, 'psi_mem_full10', n)],
    load: [column(m, 'load1', n)],
    markers: [...fromEvents, ...rises].sort((a, b) => a.time - b.time),
  };
}
