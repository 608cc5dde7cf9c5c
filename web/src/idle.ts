// Work done a slice at a time when the browser is idle, so that a long job
// (building a thousand rows) never holds input up for more than a slice:
// requestIdleCallback where there is one (with a timeout, so a busy page
// still gets on), a timer elsewhere (Safari).

// Each slice runs for about this long, well within a frame at 60 Hz.
const kSliceMs = 8;

// Calls `step` repeatedly in idle slices of about kSliceMs (at least once
// per slice) until it returns false; returns a function that stops it.
export function runWhenIdle(step: () => boolean): () => void {
  let handle: number | null = null;
  const idle = typeof requestIdleCallback === 'function';
  const slice = () => {
    handle = null;
    const end = performance.now() + kSliceMs;
    let more = step();
    while (more && performance.now() < end) more = step();
    if (more) schedule();
  };
  const schedule = () => {
    handle = idle ? requestIdleCallback(slice, { timeout: 100 }) : window.setTimeout(slice, 0);
  };
  schedule();
  return () => {
    if (handle === null) return;
    if (idle) cancelIdleCallback(handle);
    else clearTimeout(handle);
    handle = null;
  };
}
