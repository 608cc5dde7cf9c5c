// Named moments in the browser's Performance timeline (User Timing), for the
// panel benchmark (web/bench/panel_bench.ts, bench/README.md) and for anyone
// recording the panel in DevTools' Performance panel:
//   kumo:list-rendered  mark: the server list's first screenful of rows is
//                       in the DOM (the rows the user sees; the rest follow
//                       when the browser is idle), time since navigation
//                       start (detail: {rows: built, servers: in the list});
//   kumo:list-complete  mark: every row of the list is in the DOM (detail:
//                       how many), time since navigation start;
//   kumo:watch-applied  measure: from a watch message's arrival in the page
//                       (its event's timeStamp) to every page having applied
//                       it to the DOM (detail: the server's name).
// Each name keeps only its latest entry, since a panel stays open for days and
// the browser never drops user timings by itself; a PerformanceObserver still
// sees every one.
export const kListRendered = 'kumo:list-rendered';
export const kListComplete = 'kumo:list-complete';
export const kWatchApplied = 'kumo:watch-applied';

export function markMoment(name: string, detail: unknown): void {
  performance.clearMarks(name);
  performance.mark(name, { detail });
}

export function measureSince(name: string, start: number, detail: unknown): void {
  performance.clearMeasures(name);
  performance.measure(name, { start, detail });
}
