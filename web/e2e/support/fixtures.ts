// The specs' `test` and `expect`: Playwright's, with `kumod` (the facts of
// the kumod under test), `api` (its API with the bearer token) and baseURL
// set to that kumod.
import { test as base, expect } from '@playwright/test';
import { KumodApi } from './api';
import { readKumodInfo, type KumodInfo } from './kumod_info';

export const test = base.extend<{ api: KumodApi }, { kumod: KumodInfo }>({
  kumod: [async ({}, use) => use(readKumodInfo()), { scope: 'worker' }],
  baseURL: async ({ kumod }, use) => use(kumod.baseURL),
  api: async ({ kumod }, use) => use(new KumodApi(kumod)),
});

export { expect };

// Prints a measured figure in the form the project's test logs use.
export function figure(text: string): void {
  console.log(`figure: ${text}`);
}
