// The live change feed (GET /v1/watch, Server-Sent Events). EventSource
// reconnects by itself with Last-Event-ID, and kumod replays what was missed;
// `reload` (too much missed) and `dropped` (we read too slowly) mean: read
// the whole list again. Pages subscribe; one stream serves them all.
import type { Server, ServerEvent, Status } from './api';
import { kWatchApplied, measureSince } from './timing';

export interface WatchMessage {
  server: string;
  status: Status | 'deleted';
  record: Server | null;
  event: ServerEvent | null;
  changed: string[];
  deleted: boolean;
  replayed: boolean;
}

export type WatchListener = {
  message?: (m: WatchMessage) => void;
  // The stream (re)opened after a gap, or kumod asked for a reload: what a
  // page holds may be stale; read it again.
  resync?: () => void;
  connection?: (open: boolean) => void;
};

export class Watch {
  private source: EventSource | null = null;
  private listeners = new Set<WatchListener>();
  private wasOpen = false;

  start(): void {
    if (this.source) return;
    const source = new EventSource('/v1/watch');
    this.source = source;
    source.addEventListener('open', () => {
      if (this.wasOpen) this.emitResync();
      this.wasOpen = true;
      this.listeners.forEach((l) => l.connection?.(true));
    });
    source.addEventListener('error', () => {
      this.listeners.forEach((l) => l.connection?.(false));
    });
    source.addEventListener('server', (e) => {
      let m: WatchMessage;
      try {
        m = JSON.parse((e as MessageEvent<string>).data) as WatchMessage;
      } catch {
        return;
      }
      this.listeners.forEach((l) => l.message?.(m));
      measureSince(kWatchApplied, e.timeStamp, m.server);
    });
    const restart = () => {
      this.stop();
      this.start();
      this.emitResync();
    };
    source.addEventListener('reload', () => this.emitResync());
    source.addEventListener('dropped', restart);
  }

  stop(): void {
    this.source?.close();
    this.source = null;
    this.wasOpen = false;
  }

  subscribe(listener: WatchListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emitResync(): void {
    this.listeners.forEach((l) => l.resync?.());
  }
}
