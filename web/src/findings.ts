// When a list row needs its top diagnosis finding, and a scheduler that
// fetches it: debounced per server, at most one request in flight per server
// (a change during the flight asks once more after it), a few in flight in
// all (a list of 1,000 servers in trouble does not send 1,000 at once).
// DOM-free; timers are injected so test/findings.test.ts runs it on a fake
// clock.
import type { Server } from './api';

export type FindingStep = 'fetch' | 'clear' | 'keep';

type Facts = Pick<Server, 'status' | 'status_reason'>;

function troubled(s: Facts): boolean {
  return s.status === 'warning' || s.status === 'error';
}

// A row that turned warning/error, or whose reason changed while in
// trouble, fetches. A critical finding matters on a running server too (the
// OOM killer took sshd, the agent lived): an `oom` or `diagnosis` event
// (kumod writes one for each new critical finding) fetches whatever the
// status, and a row back from trouble fetches what still holds. A stopped or
// (re)booting server clears: its findings were about the boot before. A
// running row the page has just loaded fetches nothing (a list of 1,000
// would send 1,000 requests): GET /v1/servers carries each row's top finding.
export function findingStep(prev: Facts | undefined, next: Facts, eventKind = ''): FindingStep {
  if (next.status === 'stopped' || next.status === 'pending') return 'clear';
  if (eventKind === 'oom' || eventKind === 'diagnosis') return 'fetch';
  if (troubled(next)) {
    return !prev || prev.status !== next.status || prev.status_reason !== next.status_reason ? 'fetch' : 'keep';
  }
  return prev && troubled(prev) ? 'fetch' : 'keep';
}

// What a row shows of a diagnosis: its top finding while the server is in
// trouble, and a critical one (an OOM kill, a panic) even while it runs.
export function rowFinding<F extends { severity: string }>(status: Server['status'], findings: readonly F[]): F | undefined {
  const top = findings[0];
  if (!top) return undefined;
  if (status === 'warning' || status === 'error') return top;
  return status === 'running' && top.severity === 'critical' ? top : undefined;
}

export interface SchedulerDeps<T> {
  fetch(name: string): Promise<T>;
  // Called with the answer, or null when the request failed.
  done(name: string, result: T | null): void;
  setTimer(fn: () => void, ms: number): unknown;
  clearTimer(handle: unknown): void;
  debounceMs?: number;
  maxInFlight?: number;
}

interface Entry {
  timer: unknown;
  inFlight: boolean;
  again: boolean;
  queued: boolean;
}

export class FetchScheduler<T> {
  private entries = new Map<string, Entry>();
  private queue: string[] = [];
  private inFlight = 0;
  private stopped = false;

  constructor(private deps: SchedulerDeps<T>) {}

  // Asks for a fetch of `name` after the debounce (restarted by each ask).
  ask(name: string): void {
    if (this.stopped) return;
    const e = this.entry(name);
    if (e.timer !== null) this.deps.clearTimer(e.timer);
    e.timer = this.deps.setTimer(() => {
      e.timer = null;
      this.ready(name);
    }, this.deps.debounceMs ?? 400);
  }

  // Forgets `name`: a pending ask is dropped and an answer in flight ignored.
  cancel(name: string): void {
    const e = this.entries.get(name);
    if (!e) return;
    if (e.timer !== null) this.deps.clearTimer(e.timer);
    this.entries.delete(name);
    this.queue = this.queue.filter((n) => n !== name);
  }

  stop(): void {
    this.stopped = true;
    for (const name of [...this.entries.keys()]) this.cancel(name);
  }

  private entry(name: string): Entry {
    let e = this.entries.get(name);
    if (!e) {
      e = { timer: null, inFlight: false, again: false, queued: false };
      this.entries.set(name, e);
    }
    return e;
  }

  private ready(name: string): void {
    const e = this.entries.get(name);
    if (!e) return;
    if (e.inFlight) {
      e.again = true;
      return;
    }
    if (!e.queued) {
      e.queued = true;
      this.queue.push(name);
    }
    this.pump();
  }

  private pump(): void {
    const max = this.deps.maxInFlight ?? 4;
    while (!this.stopped && this.inFlight < max && this.queue.length > 0) {
      const name = this.queue.shift() as string;
      const e = this.entries.get(name);
      if (!e) continue;
      e.queued = false;
      e.inFlight = true;
      this.inFlight++;
      this.deps.fetch(name).then(
        (r) => this.finish(name, e, r),
        () => this.finish(name, e, null),
      );
    }
  }

  private finish(name: string, e: Entry, result: T | null): void {
    this.inFlight--;
    e.inFlight = false;
    const current = this.entries.get(name) === e && !this.stopped;
    if (current) {
      this.deps.done(name, result);
      if (e.again) {
        e.again = false;
        this.ready(name);
      } else if (e.timer === null && !e.queued) {
        this.entries.delete(name);
      }
    }
    this.pump();
  }
}
