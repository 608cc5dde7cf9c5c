// Scenario 5 of the panel's issue: sign-in with a wrong token fails (no
// cookie); API calls from the page without the session, or with it but
// without the CSRF token, and a forged cross-site request with the session
// cookie, are all refused, and nothing changed.
import { request as playwrightRequest } from '@playwright/test';
import { expect, test } from './support/fixtures';
import { hasSessionCookie, signIn } from './support/signin';

test('5a. sign-in with a wrong token fails and leaves no session', async ({ page, kumod }) => {
  await page.goto('/');
  await page.getByTestId('signin-token').fill('0'.repeat(64));
  await page.getByTestId('signin-submit').click();
  await expect(page.getByTestId('signin-error')).toBeVisible();
  await expect(page.getByTestId('signin-error')).not.toBeEmpty();
  await expect(page.getByTestId('sign-out')).toHaveCount(0);
  expect(await hasSessionCookie(page)).toBe(false);

  // The right token then works; the cookie is out of the page's reach.
  await page.getByTestId('signin-token').fill(kumod.token);
  await page.getByTestId('signin-submit').click();
  await expect(page.getByTestId('sign-out')).toBeVisible();
  expect(await hasSessionCookie(page)).toBe(true);
  expect(await page.evaluate(() => document.cookie)).not.toContain('kumo_session');
  // The token is not kept anywhere the page can read.
  const stored = await page.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }) + location.href);
  expect(stored).not.toContain(kumod.token);
});

test('5b. API calls without the session, without the CSRF token, or cross-site are refused', async ({ page, api, kumod }) => {
  const target = await api.someRunning('look1');
  const name = target.name;
  const stopPath = `/v1/servers/${name}/actions`;
  const forceStop = JSON.stringify({ action: 'stop', force: true });

  // Without the session: the page's own fetch gets 401.
  await page.goto('/');
  const anonymous = await page.evaluate(
    async ([stopPath, forceStop]) => {
      const list = await fetch('/v1/servers');
      const stop = await fetch(stopPath, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: forceStop });
      return [list.status, stop.status];
    },
    [stopPath, forceStop],
  );
  expect(anonymous).toEqual([401, 401]);

  // With the session but no (or a wrong) X-CSRF-Token: 403.
  await signIn(page, kumod.token);
  const withCookie = await page.evaluate(
    async ([stopPath, forceStop]) => {
      const list = await fetch('/v1/servers');
      const noToken = await fetch(stopPath, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: forceStop });
      const wrongToken = await fetch(stopPath, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': 'forged' },
        body: forceStop,
      });
      const session = (await (await fetch('/v1/session')).json()) as { csrf_token?: string };
      return { codes: [list.status, noToken.status, wrongToken.status], csrf: session.csrf_token ?? '' };
    },
    [stopPath, forceStop],
  );
  expect(withCookie.codes).toEqual([200, 403, 403]);
  expect(withCookie.csrf).not.toBe('');

  // Cross-site: the session cookie, even the right CSRF token, from another
  // origin (as a browser marks it): 403, nothing done.
  const cookie = (await page.context().cookies()).find((c) => c.name === 'kumo_session');
  expect(cookie).toBeDefined();
  const evil = await playwrightRequest.newContext({
    baseURL: kumod.baseURL,
    extraHTTPHeaders: {
      Cookie: `kumo_session=${cookie!.value}`,
      Origin: 'http://evil.example',
      'Sec-Fetch-Site': 'cross-site',
    },
  });
  const crossStop = await evil.post(stopPath, { data: { action: 'stop', force: true }, headers: { 'X-CSRF-Token': withCookie.csrf } });
  expect(crossStop.status()).toBe(403);
  const crossCreate = await evil.post('/v1/servers', { data: { name: 'forged' }, headers: { 'X-CSRF-Token': withCookie.csrf } });
  expect(crossCreate.status()).toBe(403);
  const crossDelete = await evil.delete(`/v1/servers/${name}?force=true`, { headers: { 'X-CSRF-Token': withCookie.csrf } });
  expect(crossDelete.status()).toBe(403);
  await evil.dispose();

  // Nothing changed: the server runs on the same QEMU, no server was made.
  const after = await api.server(name);
  expect(after?.status).toBe('running');
  expect(after?.qemu_pid).toBe(target.qemu_pid);
  expect(await api.server('forged')).toBeNull();
  // And the page's own requests (same origin, with the token) still work.
  const own = await page.evaluate(
    async ([csrf]) => (await fetch('/v1/servers/forged', { method: 'DELETE', headers: { 'X-CSRF-Token': csrf } })).status,
    [withCookie.csrf],
  );
  expect(own).toBe(404);
});
