// The panel's entry: sign-in or the app shell (header with the language
// switch and sign-out, one page at a time by the hash route).
import '@xterm/xterm/css/xterm.css';
import 'uplot/dist/uPlot.min.css';
import './styles.css';

import { Api } from './api';
import type { Cleanup, PanelContext } from './context';
import { h } from './dom';
import { languageSwitch } from './components/language_switch';
import { initLanguage, onLanguageChange, t } from './i18n';
import { mountConsolePage } from './pages/console';
import { mountListPage } from './pages/list';
import { mountServerPage } from './pages/server';
import { mountSignIn } from './pages/signin';
import { parseRoute, routeHash, type Route } from './router';
import { Watch } from './watch';

const api = new Api();
const watch = new Watch();
const app = document.getElementById('app') as HTMLElement;
let cleanup: Cleanup = () => {};
let signedIn = false;

const ctx: PanelContext = {
  api,
  watch,
  navigate(route: Route) {
    const hash = routeHash(route);
    if (location.hash !== hash) location.hash = hash;
    else render();
  },
};

function header(): HTMLElement {
  const connection = h('span', { class: 'connection', role: 'status', 'data-testid': 'connection' });
  watch.subscribe({
    connection: (open) => {
      connection.textContent = open ? '' : t('app.reconnecting');
    },
  });
  const signOut = h('button', { type: 'button', 'data-testid': 'sign-out' }, t('app.sign_out'));
  signOut.addEventListener('click', async () => {
    try {
      await api.signOut();
    } finally {
      showSignIn();
    }
  });
  return h(
    'header',
    { class: 'app-header' },
    h('a', { class: 'brand', href: routeHash({ page: 'list' }) }, t('app.name')),
    h('nav', { 'aria-label': t('app.servers') }, h('a', { href: routeHash({ page: 'list' }) }, t('app.servers'))),
    connection,
    ...languageSwitch('lang'),
    signOut,
  );
}

function render(): void {
  cleanup();
  const skip = document.querySelector('.skip-link');
  if (skip) skip.textContent = t('app.skip');
  if (!signedIn) return showSignIn();
  const page = h('main', { id: 'main', tabindex: '-1' });
  app.replaceChildren(header(), page);
  const route = parseRoute(location.hash);
  switch (route.page) {
    case 'list':
      cleanup = mountListPage(page, ctx);
      break;
    case 'server':
      cleanup = mountServerPage(page, ctx, route.name);
      break;
    case 'console':
      cleanup = mountConsolePage(page, ctx, route.name);
      break;
  }
}

function showSignIn(): void {
  cleanup();
  signedIn = false;
  watch.stop();
  cleanup = mountSignIn(app, api, () => {
    signedIn = true;
    watch.start();
    render();
  });
}

async function boot(): Promise<void> {
  initLanguage();
  api.onSignedOut = () => {
    if (signedIn) showSignIn();
  };
  onLanguageChange(render);
  window.addEventListener('hashchange', render);
  try {
    signedIn = await api.restoreSession();
  } catch {
    signedIn = false;
  }
  if (signedIn) watch.start();
  render();
}

void boot();
