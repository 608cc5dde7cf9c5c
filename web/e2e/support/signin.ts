// Signing in as a user does: the token typed into the sign-in form.
import type { Page } from '@playwright/test';
import { expect } from './fixtures';

export async function signIn(page: Page, token: string, hash = '#/'): Promise<void> {
  await page.goto('/' + hash);
  await page.getByTestId('signin-token').fill(token);
  await page.getByTestId('signin-submit').click();
  await expect(page.getByTestId('sign-out')).toBeVisible();
}

// Whether the browser holds kumod's session cookie.
export async function hasSessionCookie(page: Page): Promise<boolean> {
  return (await page.context().cookies()).some((c) => c.name === 'kumo_session');
}
