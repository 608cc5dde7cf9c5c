import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Metrics, ServerEvent } from '../src/api';
import { chartData, counterRises, eventMarkers, visibleRange } from '../src/chart_data';

const T0 = Date.parse('2026-12-01T10:00:00Z');

function metrics(series: Record<string, (number | null)[]>): Metrics {
  const n = series.time.length;
  return { server: 'web', step: '5s', from: T0, to: T0 + 5000 * (n - 1), series };
}

function ev(id: number, sec: number, kind: string, status: ServerEvent['status'], message = kind): ServerEvent {
  return { id, time: new Date(T0 + sec * 1000).toISOString(), kind, status, message };
}

test('the OOM counter: a rise is a marker, a fall (new boot) and nulls are not', () => {
  const time = [0, 5, 10, 15, 20, 25, 30].map((s) => T0 + s * 1000);
  const table: [(number | null)[], { time: number; count?: number }[]][] = [
    [[0, 0, 0, 0, 0, 0, 0], []],
    [[0, 0, 1, 1, 3, 3, 3], [{ time: T0 + 10_000, count: 1 }, { time: T0 + 20_000, count: 2 }]],
    [[2, 2, 0, 0, 1, 1, 1], [{ time: T0 + 20_000, count: 1 }]],
    [[0, null, null, 1, 1, null, 1], [{ time: T0 + 15_000, count: 1 }]],
    [[null, null, 4, 4, 4, 4, 4], []],
  ];
  for (const [kills, want] of table) {
    const got = counterRises(time, kills).map((m) => ({ time: m.time, count: m.count }));
    assert.deepEqual(got, want, JSON.stringify(kills));
  }
});

test('events: oom events, and status changes between consecutive events', () => {
  const events = [
    ev(3, 20, 'agent', 'warning', 'guest agent not responding'),
    ev(1, 0, 'task', 'pending', 'starting'),
    ev(2, 10, 'agent', 'running', 'agent answered'),
    ev(4, 25, 'oom', 'warning', 'OOM killer killed dropbear'),
    ev(5, 26, 'diagnosis', 'warning'),
    ev(6, 30, 'status', 'warning', 'explicit status event'),
  ];
  assert.deepEqual(
    eventMarkers(events).map((m) => [m.kind, (m.time - T0) / 1000, m.message]),
    [
      ['status', 10, 'agent answered'],
      ['status', 20, 'guest agent not responding'],
      ['oom', 25, 'OOM killer killed dropbear'],
      ['status', 30, 'explicit status event'],
    ],
  );
});

test('chart data: seconds on x, memory used in MiB, gaps kept, markers in the window', () => {
  const m = metrics({
    time: [T0, T0 + 5000, T0 + 10_000],
    mem_total_kib: [1024 * 256, 1024 * 256, null],
    mem_available_kib: [1024 * 200, null, 1024 * 10],
    qemu_cpu_percent: [1.5, null, 99],
    psi_cpu_some10: [0, 0, 12.5],
    psi_mem_some10: [null, null, 40],
    psi_mem_full10: [null, null, 20],
    load1: [0.1, 0.2, 3],
    oom_kills: [0, 0, 1],
  });
  const d = chartData(m, [ev(1, -100, 'task', 'pending'), ev(2, -90, 'agent', 'running'), ev(3, 5, 'agent', 'warning', 'down')]);
  assert.deepEqual(d.x, [T0 / 1000, T0 / 1000 + 5, T0 / 1000 + 10]);
  assert.deepEqual(d.memory, [[56, null, null], [256, 256, null]]);
  assert.deepEqual(d.cpu, [[1.5, null, 99], [0, 0, 12.5]]);
  assert.deepEqual(d.pressure, [[null, null, 40], [null, null, 20]]);
  assert.deepEqual(d.load, [[0.1, 0.2, 3]]);
  // The event 90 s before the window is left out; the counter's rise is in.
  assert.deepEqual(d.markers.map((k) => [k.kind, k.time - T0, k.message]), [
    ['status', 5000, 'down'],
    ['oom', 10_000, null],
  ]);
});

test('chart data: an oom event and the counter rise for the same kill make one marker', () => {
  const m = metrics({ time: [T0, T0 + 5000, T0 + 10_000], oom_kills: [0, 1, 1] });
  const d = chartData(m, [ev(1, 8, 'oom', 'warning', 'OOM killer killed hog')]);
  assert.deepEqual(d.markers.map((k) => [k.kind, k.message]), [['oom', 'OOM killer killed hog']]);
});

test('chart data: missing columns are all gaps', () => {
  const d = chartData(metrics({ time: [T0, T0 + 5000] }), []);
  assert.deepEqual(d.load, [[null, null]]);
  assert.deepEqual(d.markers, []);
});

test('the time axis shows the whole window once filled, else the samples with some room', () => {
  const hour = 3_600_000;
  const window = (time: (number | null)[]): Metrics => ({ server: 'web', step: '5s', from: T0, to: T0 + hour, series: { time } });
  // No samples: the whole window.
  assert.deepEqual(visibleRange(window([])), [T0, T0 + hour]);
  // Samples over the whole hour: the whole window.
  assert.deepEqual(visibleRange(window([T0, T0 + hour])), [T0, T0 + hour]);
  // A server two minutes old: five minutes shown, ending now.
  assert.deepEqual(visibleRange(window([T0 + hour - 120_000, T0 + hour])), [T0 + hour - 300_000, T0 + hour]);
  // Twenty minutes old: from two steps before its first sample.
  assert.deepEqual(visibleRange(window([null, T0 + hour - 1_200_000, T0 + hour])), [T0 + hour - 1_210_000, T0 + hour]);
});
