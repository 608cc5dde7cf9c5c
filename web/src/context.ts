// What every page gets: the API client, the one watch stream, navigation.
// A page is mounted into an element and returns its cleanup (unsubscribe,
// close sockets), called when the route or the language changes.
import type { Api } from './api';
import type { Route } from './router';
import type { Watch } from './watch';

export interface PanelContext {
  api: Api;
  watch: Watch;
  navigate(route: Route): void;
}

export type Cleanup = () => void;
export type MountPage = (el: HTMLElement, ctx: PanelContext) => Cleanup;
