// At most one run per `gapMs`, the last request never lost: a request while
// a run is due soon joins it; otherwise it runs at once or when the gap has
// passed. Used for the diagnosis, re-read on watch messages (≤ 1 per 2 s).
// The timing decision is pure (runDelay), tested in test/throttle.test.ts.

// How long to wait before running, given when it last ran (null: never).
export function runDelay(now: number, lastRun: number | null, gapMs: number): number {
  if (lastRun === null) return 0;
  return Math.max(0, lastRun + gapMs - now);
}

export interface Throttled {
  request(): void;
  cancel(): void;
}

export function throttle(run: () => void, gapMs: number, now: () => number = Date.now): Throttled {
  let last: number | null = null;
  let timer: ReturnType<typeof setTimeout> | null = null;
  const fire = () => {
    timer = null;
    last = now();
    run();
  };
  return {
    request() {
      if (timer !== null) return;
      const wait = runDelay(now(), last, gapMs);
      if (wait === 0) fire();
      else timer = setTimeout(fire, wait);
    },
    cancel() {
      if (timer !== null) clearTimeout(timer);
      timer = null;
    },
  };
}
