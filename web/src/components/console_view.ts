// A server's serial console in the browser (xterm.js), used by the server
// page and, full size, by the console page. Opens the console WebSocket with
// the recent scrollback (?tail=500), sends keystrokes, writes the output, and
// comes back by itself after a reboot or a stop/start: while the server is
// not running it says "Waiting for the server to start…" (never an error)
// and reconnects when the watch stream says it runs (decisions in
// console_state.ts). Several viewers at once are kumod's broker's business.
// `dispose` closes the socket, the timers, the subscription and the terminal.
import { FitAddon } from '@xterm/addon-fit';
import { Terminal } from '@xterm/xterm';
import type { Power } from '../api';
import { afterClose, consoleMayBeThere, consoleUrl, onPower, type ConsoleState } from '../console_state';
import type { PanelContext } from '../context';
import { h } from '../dom';
import { t } from '../i18n';

export const kTailLines = 500;

export interface ConsoleView {
  el: HTMLElement;
  focus(): void;
  dispose(): void;
}

export interface ConsoleViewOptions {
  full?: boolean;
  power?: Power | null; // when the page already knows it
}

export function consoleView(ctx: PanelContext, name: string, opts: ConsoleViewOptions = {}): ConsoleView {
  let power: Power | null = opts.power ?? null;
  let state: ConsoleState = 'connecting';
  let socket: WebSocket | null = null;
  let retry: ReturnType<typeof setTimeout> | null = null;
  let attempt = 0;
  let disposed = false;

  const stateText = h('span', { class: 'console-state-text' });
  const stateLine = h(
    'p',
    { class: 'console-state', role: 'status', 'data-testid': 'console-state', 'data-state': state },
    h('span', { class: 'console-state-icon', 'aria-hidden': 'true' }),
    stateText,
  );
  const helpId = 'console-help-' + Math.random().toString(36).slice(2);
  const screen = h('div', {
    class: 'console-screen',
    role: 'group',
    'aria-label': t('console.label', { name }),
    'aria-describedby': helpId,
  });
  const el = h(
    'div',
    { class: opts.full ? 'console console-full' : 'console', 'data-testid': 'console' },
    stateLine,
    screen,
    h('p', { class: 'help', id: helpId }, t('console.help')),
  );

  const setState = (next: ConsoleState) => {
    state = next;
    stateLine.dataset.state = next;
    stateText.textContent = t('console.state.' + next);
  };
  setState('connecting');

  Terminal.strings.promptLabel = t('console.input_label', { name });
  const term = new Terminal({
    convertEol: false,
    cursorBlink: true,
    scrollback: 5000,
    fontFamily: "ui-monospace, 'DejaVu Sans Mono', Menlo, Consolas, monospace",
    fontSize: 14,
    theme: { background: '#10161f', foreground: '#e6e9ee' },
  });
  const fit = new FitAddon();
  term.loadAddon(fit);
  // Shift+Tab leaves the console (Tab itself goes to the guest's shell).
  term.attachCustomKeyEventHandler((e) => !(e.key === 'Tab' && e.shiftKey));
  const input = term.onData((data) => {
    if (socket?.readyState === WebSocket.OPEN) socket.send(data);
  });
  const binaryInput = term.onBinary((data) => {
    if (socket?.readyState !== WebSocket.OPEN) return;
    const bytes = new Uint8Array(data.length);
    for (let i = 0; i < data.length; i++) bytes[i] = data.charCodeAt(i) & 0xff;
    socket.send(bytes);
  });

  const refit = () => {
    if (!screen.isConnected || screen.clientWidth === 0) return;
    try {
      fit.fit();
    } catch {
      // not laid out yet
    }
  };
  // Opened once the element is in the document (xterm measures its cells).
  let opened = false;
  const openTerminal = () => {
    if (opened || disposed || !el.isConnected) return;
    opened = true;
    term.open(screen);
    term.textarea?.setAttribute('aria-label', t('console.input_label', { name }));
    refit();
  };
  const observer = new ResizeObserver(() => {
    openTerminal();
    refit();
  });
  observer.observe(screen);
  window.addEventListener('resize', refit);

  const clearRetry = () => {
    if (retry !== null) clearTimeout(retry);
    retry = null;
  };

  const connect = () => {
    clearRetry();
    if (disposed) return;
    setState('connecting');
    let ws: WebSocket;
    try {
      ws = new WebSocket(consoleUrl(location, name, kTailLines));
    } catch {
      return closed(false);
    }
    ws.binaryType = 'arraybuffer';
    socket = ws;
    let fresh = true; // the first message is the scrollback: start a clean screen
    ws.onopen = () => {
      attempt = 0;
      setState('live');
    };
    ws.onmessage = (e: MessageEvent<ArrayBuffer | string>) => {
      if (fresh) {
        fresh = false;
        term.reset();
      }
      term.write(typeof e.data === 'string' ? e.data : new Uint8Array(e.data));
    };
    ws.onclose = (e) => {
      if (socket !== ws) return;
      socket = null;
      closed(e.reason === 'the server stopped');
    };
  };

  const closed = (stopped: boolean) => {
    if (disposed) return;
    const next = afterClose(power, attempt, stopped);
    attempt++;
    setState(next.state);
    clearRetry();
    if (next.retryMs !== null) retry = setTimeout(connect, next.retryMs);
  };

  const powerIs = (p: Power) => {
    power = p;
    const what = onPower(state, p);
    if (what === 'connect') {
      attempt = 0;
      connect();
    } else if (what === 'wait') {
      clearRetry();
      setState('waiting');
    }
  };

  const unsubscribe = ctx.watch.subscribe({
    message: (m) => {
      if (m.server !== name) return;
      if (m.deleted) {
        stopNetwork();
        setState('closed');
      } else if (m.record) powerIs(m.record.power);
    },
    resync: () => {
      ctx.api.getServer(name).then((s) => powerIs(s.power), () => {});
    },
  });

  // No more sockets or retries (the page went away, or the server was deleted).
  function stopNetwork() {
    if (disposed) return;
    disposed = true;
    clearRetry();
    unsubscribe();
    const ws = socket;
    socket = null;
    ws?.close();
  }

  let terminalGone = false;
  const dispose = () => {
    stopNetwork();
    if (terminalGone) return;
    terminalGone = true;
    observer.disconnect();
    window.removeEventListener('resize', refit);
    input.dispose();
    binaryInput.dispose();
    term.dispose();
  };

  // A server known to be off is waited for; no doomed upgrade is tried.
  if (consoleMayBeThere(power)) connect();
  else setState('waiting');
  queueMicrotask(openTerminal);
  return {
    el,
    focus: () => {
      openTerminal();
      el.scrollIntoView({ block: 'nearest' });
      term.focus();
    },
    dispose,
  };
}
