// Charts of a server's last hour or day (uPlot): CPU (QEMU's share of a host
// core and the guest's CPU pressure), memory (used and total, MiB), memory
// pressure (PSI some/full) and load. Null samples are gaps. OOM kills and
// status changes are marked on every chart's time axis twice: a line on the
// canvas and an element over the plot (data-testid chart-marker, with the
// event's message and time as its label, for tests and screen readers).
// The one poll of the panel: metrics are not in the watch stream, so they
// are read every 5 s (1 h) or 60 s (24 h). Data and markers: chart_data.ts.
import uPlot from 'uplot';
import type { Metrics, MetricsWindow, ServerEvent } from '../api';
import { chartData, visibleRange, type ChartData, type Column, type Marker } from '../chart_data';
import type { PanelContext } from '../context';
import { h } from '../dom';
import { formatAxisTime, formatTime, t } from '../i18n';

export interface ChartsView {
  el: HTMLElement;
  setEvents(events: ServerEvent[]): void;
  addEvent(e: ServerEvent): void;
  dispose(): void;
}

type ChartKey = 'cpu' | 'memory' | 'pressure' | 'load';
const kCharts: { key: ChartKey; series: string[]; unit: string }[] = [
  { key: 'cpu', series: ['charts.series.qemu_cpu', 'charts.series.psi_cpu'], unit: '%' },
  { key: 'memory', series: ['charts.series.mem_used', 'charts.series.mem_total'], unit: 'MiB' },
  { key: 'pressure', series: ['charts.series.psi_mem_some', 'charts.series.psi_mem_full'], unit: '%' },
  { key: 'load', series: ['charts.series.load1'], unit: '' },
];
const kColours = ['#1f5fbf', '#c77700'];
const kMarkerColour: Record<Marker['kind'], string> = { oom: '#b3261e', status: '#5a3fa0' };
const kRefreshMs: Record<MetricsWindow, number> = { '1h': 5000, '24h': 60_000 };
const kHeight = 170;

function markerLabel(m: Marker): string {
  const what = m.message ?? t('charts.marker.oom_count', { n: m.count ?? 1 });
  return `${t('charts.marker.' + m.kind)}: ${what} (${formatTime(m.time)})`;
}

export function chartsView(ctx: PanelContext, name: string): ChartsView {
  let win: MetricsWindow = '1h';
  let events: ServerEvent[] = [];
  let metrics: Metrics | null = null;
  let data: ChartData | null = null;
  let timer: ReturnType<typeof setInterval> | null = null;
  let inFlight = false;
  let disposed = false;
  const plots = new Map<ChartKey, uPlot>();
  const holders = new Map<ChartKey, HTMLElement>();

  const note = h('p', { class: 'help', role: 'status', 'data-testid': 'charts-note' });
  const buttons = (['1h', '24h'] as MetricsWindow[]).map((w) => {
    const b = h('button', { type: 'button', 'data-testid': `chart-window-${w}`, 'aria-pressed': String(w === win) }, t('charts.window.' + w));
    b.addEventListener('click', () => setWindow(w));
    return b;
  });
  const figures = kCharts.map(({ key }) => {
    const holder = h('div', { class: 'chart-plot' });
    holders.set(key, holder);
    return h(
      'figure',
      { class: 'chart', 'data-testid': `chart-${key}` },
      h('figcaption', {}, t('charts.title.' + key)),
      holder,
    );
  });
  const el = h(
    'section',
    { class: 'charts', 'data-testid': 'charts', 'aria-labelledby': 'charts-title' },
    h(
      'div',
      { class: 'charts-head' },
      h('h2', { id: 'charts-title' }, t('charts.title')),
      h('div', { class: 'chart-window', role: 'group', 'aria-label': t('charts.window') }, ...buttons),
    ),
    note,
    h('div', { class: 'chart-grid' }, ...figures),
  );

  const width = (holder: HTMLElement) => Math.max(240, holder.clientWidth || 480);

  // Vertical lines on the canvas and labelled elements over the plot.
  const drawMarkers = (u: uPlot) => {
    const markers = data?.markers ?? [];
    const c = u.ctx;
    const { top, height } = u.bbox;
    c.save();
    c.lineWidth = Math.max(1, devicePixelRatio);
    for (const m of markers) {
      const x = u.valToPos(m.time / 1000, 'x', true);
      if (!(x >= u.bbox.left && x <= u.bbox.left + u.bbox.width)) continue;
      c.strokeStyle = kMarkerColour[m.kind];
      c.setLineDash(m.kind === 'oom' ? [] : [4 * devicePixelRatio, 3 * devicePixelRatio]);
      c.beginPath();
      c.moveTo(x, top);
      c.lineTo(x, top + height);
      c.stroke();
    }
    c.restore();
    u.over.querySelectorAll('.chart-marker').forEach((n) => n.remove());
    const plotWidth = u.over.clientWidth;
    for (const m of markers) {
      const left = u.valToPos(m.time / 1000, 'x');
      if (!(left >= 0 && left <= plotWidth)) continue;
      const label = markerLabel(m);
      const marker = h(
        'span',
        {
          class: `chart-marker chart-marker-${m.kind}`,
          'data-testid': 'chart-marker',
          'data-kind': m.kind,
          'data-time': m.time,
          role: 'img',
          'aria-label': label,
          title: label,
        },
        m.kind === 'oom' ? '✕' : '◆',
      );
      marker.style.left = `${left}px`;
      u.over.append(marker);
    }
  };

  const columns = (d: ChartData, key: ChartKey): uPlot.AlignedData => [d.x, ...(d[key] as Column[])] as uPlot.AlignedData;

  const render = () => {
    if (!metrics || !data) return;
    const d = data;
    const [fromMs, toMs] = visibleRange(metrics);
    const range: [number, number] = [fromMs / 1000, toMs / 1000];
    note.textContent = d.x.length === 0 ? t('charts.no_data') : '';
    for (const { key, series, unit } of kCharts) {
      const holder = holders.get(key) as HTMLElement;
      const old = plots.get(key);
      if (old) {
        old.scales.x.range = () => range;
        old.setData(columns(d, key));
        continue;
      }
      const opts: uPlot.Options = {
        width: width(holder),
        height: kHeight,
        scales: { x: { time: true, range: () => range }, y: { range: (_u, min, max) => [Math.min(0, min ?? 0), Math.max(max ?? 1, 1)] } },
        series: [
          { label: t('charts.time'), value: (_u: uPlot, v: number | null) => (v === null || v === undefined ? '—' : formatTime(v * 1000)) },
          ...series.map((s, i) => ({
            label: unit ? `${t(s)} (${unit})` : t(s),
            stroke: kColours[i],
            width: 1.5,
            spanGaps: false,
            value: (_u: uPlot, v: number | null) => (v === null || v === undefined ? '—' : String(Math.round(v * 100) / 100)),
          })),
        ],
        // Times on the axis and in the legend in the user's language, 24-hour.
        axes: [{ values: (_u: uPlot, splits: number[]) => splits.map((s) => formatAxisTime(s * 1000)) }, { size: 50 }],
        hooks: { draw: [drawMarkers] },
        legend: { show: true },
        cursor: { y: false, drag: { x: false, y: false } },
      };
      plots.set(key, new uPlot(opts, columns(d, key), holder));
    }
  };

  const load = () => {
    if (inFlight || disposed) return;
    inFlight = true;
    const asked = win;
    ctx.api.metrics(name, asked).then(
      (m) => {
        inFlight = false;
        if (disposed || asked !== win) return;
        metrics = m;
        data = chartData(m, events);
        render();
      },
      (e: Error) => {
        inFlight = false;
        if (!disposed) note.textContent = t('charts.failed', { message: e.message });
      },
    );
  };

  const restartPolling = () => {
    if (timer !== null) clearInterval(timer);
    timer = setInterval(load, kRefreshMs[win]);
  };

  function setWindow(w: MetricsWindow) {
    if (w === win) return;
    win = w;
    buttons.forEach((b) => b.setAttribute('aria-pressed', String(b.dataset.testid === `chart-window-${w}`)));
    plots.forEach((p) => p.destroy());
    plots.clear();
    metrics = null;
    data = null;
    inFlight = false;
    load();
    restartPolling();
  }

  const remark = () => {
    if (!metrics) return;
    data = chartData(metrics, events);
    plots.forEach((p) => p.redraw(false, false));
  };

  const resize = new ResizeObserver(() => {
    for (const [key, p] of plots) {
      const w = width(holders.get(key) as HTMLElement);
      if (Math.abs(w - p.width) > 2) p.setSize({ width: w, height: kHeight });
    }
  });
  figures.forEach((f) => resize.observe(f));

  load();
  restartPolling();
  return {
    el,
    setEvents(list) {
      events = list;
      remark();
    },
    addEvent(e) {
      if (events.some((x) => x.id === e.id)) return;
      events = [...events, e];
      remark();
    },
    dispose() {
      disposed = true;
      if (timer !== null) clearInterval(timer);
      resize.disconnect();
      plots.forEach((p) => p.destroy());
      plots.clear();
    },
  };
}
