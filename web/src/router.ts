// Hash routes, so a reload or a shared link lands on the same page and kumod
// serves one index.html:
//   #/                        the server list
//   #/servers/NAME            a server's page
//   #/servers/NAME/console    a server's console, full size
export type Route =
  | { page: 'list' }
  | { page: 'server'; name: string }
  | { page: 'console'; name: string };

export function parseRoute(hash: string): Route {
  const parts = hash.replace(/^#\/?/, '').split('/').filter((p) => p !== '');
  if (parts[0] === 'servers' && parts.length >= 2) {
    const name = decodeURIComponent(parts[1]);
    if (parts.length === 2) return { page: 'server', name };
    if (parts.length === 3 && parts[2] === 'console') return { page: 'console', name };
  }
  return { page: 'list' };
}

export function routeHash(route: Route): string {
  switch (route.page) {
    case 'list':
      return '#/';
    case 'server':
      return `#/servers/${encodeURIComponent(route.name)}`;
    case 'console':
      return `#/servers/${encodeURIComponent(route.name)}/console`;
  }
}
