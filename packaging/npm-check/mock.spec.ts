// In a real browser, against a mock from startMock(): a 2FA login with the pin from
// totp (the browser keeps the session cookie), an email read from the outbox, a reset.
import { expect, type Page } from '@playwright/test';
import { test } from './fixtures';

async function call(page: Page, procedure: string, body?: unknown) {
  return page.evaluate(async ([procedure, body]) => {
    const init: RequestInit =
      body === undefined
        ? {}
        : { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) };
    const response = await fetch(`/api/${procedure}`, init);
    return { status: response.status, body: await response.text() };
  }, [procedure, body] as const);
}

test('a 2FA login, an email from the outbox, and a reset', async ({ mock, page }) => {
  const email = 'admin@example.com';
  await mock.fixtures({
    admins: [{ email, password: 'password123', twoFactorSecret: 'JBSWY3DPEHPK3PXPJBSWY3DP' }],
  });
  // A page of the mock's own origin: its fetch calls carry the session cookie.
  await page.goto(`${mock.url}/__mock/`);
  const login = JSON.parse((await call(page, 'auth.login', { email, password: 'password123' })).body);
  expect(login.is2FAEnabled).toBe(true);
  const { pin } = await mock.totp(email);
  expect((await call(page, 'auth.verifyLogin2FA', { pin, id: login.authId })).body).toBe('true');
  expect(JSON.parse((await call(page, 'auth.get')).body).email).toBe(email);

  await call(page, 'auth.sendResetPasswordEmail', { email });
  const mail = await mock.outbox.waitFor((m) => m.to === email);
  expect(mail.tokens).toHaveLength(1);

  await mock.reset();
  expect((await call(page, 'auth.get')).status).toBe(401);
});

test('each test starts from a mock that was reset', async ({ mock }) => {
  expect(await mock.outbox.list()).toEqual([]);
  expect(await mock.requests()).toEqual([]);
});
