// Pure decisions of the console's connection (components/console_view.ts):
// what state to show and when to try again after the WebSocket closed or
// its upgrade was refused. A server that is not running is waited for (a
// watch message saying it runs brings the console back), never shown as an
// error; a running one is retried with backoff, 0.5 s doubling to 5 s.
// Table-tested in test/console_state.test.ts.
import type { Power } from './api';

export type ConsoleState = 'connecting' | 'live' | 'waiting' | 'closed';

export const kFirstRetryMs = 500;
export const kMaxRetryMs = 5000;

// The delay before the attempt-th retry (0-based): 0.5, 1, 2, 4, 5, 5 … s.
export function retryDelay(attempt: number): number {
  return Math.min(kMaxRetryMs, kFirstRetryMs * 2 ** Math.max(0, attempt));
}

// Whether a console can be there: QEMU runs (kumod's broker is there while
// the QEMU process is). Unknown power (not read yet) counts as maybe.
export function consoleMayBeThere(power: Power | null): boolean {
  return power === null || power === 'running' || power === 'paused' || power === 'crashed';
}

export interface AfterClose {
  state: ConsoleState;
  // Try again after this many ms; null: wait for a watch message.
  retryMs: number | null;
}

// The socket closed (or never opened). `attempt` counts the retries since the
// console was last live; `stopped` is kumod's close reason "the server
// stopped" (QEMU exited: the watch will say the power is off).
export function afterClose(power: Power | null, attempt: number, stopped: boolean): AfterClose {
  if (!consoleMayBeThere(power)) return { state: 'waiting', retryMs: null };
  // kumod said the server stopped before the watch did: wait, but look again
  // now and then in case no watch message follows (a crashed QEMU).
  if (stopped) return { state: 'waiting', retryMs: kMaxRetryMs };
  return { state: 'connecting', retryMs: retryDelay(attempt) };
}

export type OnPower = 'connect' | 'stay' | 'wait';

// A watch message brought the server's power: connect now when it came up
// while the console waited; stop retrying when it went off.
export function onPower(state: ConsoleState, power: Power): OnPower {
  if (state === 'closed' || state === 'live') return 'stay';
  if (!consoleMayBeThere(power)) return state === 'waiting' ? 'stay' : 'wait';
  return state === 'waiting' ? 'connect' : 'stay';
}

// The console's WebSocket address on the panel's own origin (the session
// cookie authenticates it there).
export function consoleUrl(loc: { protocol: string; host: string }, name: string, tail: number): string {
  const scheme = loc.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${loc.host}/v1/servers/${encodeURIComponent(name)}/console?tail=${tail}`;
}
