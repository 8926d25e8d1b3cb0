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

test('right after enabling 2FA, the next pin logs in', async ({ mock, page }) => {
  const email = 'admin@example.com';
  await mock.fixtures({ admins: [{ email, password: 'password123' }] });
  await mock.accounts.confirmEmail(email);
  await page.goto(`${mock.url}/__mock/`);
  await call(page, 'auth.login', { email, password: 'password123' });
  const { secret } = JSON.parse((await call(page, 'auth.generate2FASecret')).body);
  const setup = await mock.totp({ secret });
  expect((await call(page, 'auth.verify2FASetup', { pin: setup.pin, secret })).status).toBe(200);

  const pins = await mock.totp(email);
  expect(pins.used).toBe(true);
  const login = JSON.parse((await call(page, 'auth.login', { email, password: 'password123' })).body);
  expect((await call(page, 'auth.verifyLogin2FA', { pin: pins.pin, id: login.authId })).status).toBe(400);
  expect((await call(page, 'auth.verifyLogin2FA', { pin: pins.next.pin, id: login.authId })).body).toBe('true');
});

test('a batch with an error inside is listed as an error, a forced answer as forced', async ({ mock, page }) => {
  await page.goto(`${mock.url}/__mock/`);
  // As @trpc/client's httpBatchLink sends two queries, one of which fails.
  const status = await page.evaluate(async () => {
    const input = encodeURIComponent(JSON.stringify({ 0: { json: { token: 'nope' } }, 1: { json: null } }));
    const response = await fetch(`/api/trpc/admin.getUserByToken,auth.get?batch=1&input=${input}`);
    return response.status;
  });
  expect([207, 400, 401, 404]).toContain(status);
  await mock.faults.add({ procedure: 'auth.get', error: 'TOO_MANY_REQUESTS' });
  expect((await call(page, 'auth.get')).status).toBe(429);

  const errors = await mock.requests({ hasError: true });
  expect(errors.map((r) => r.calls.map((c) => c.procedure))).toEqual([
    ['admin.getUserByToken', 'auth.get'],
    ['auth.get'],
  ]);
  expect(errors[0].calls[0].input).toEqual({ token: 'nope' });
  expect(errors[1].forced).toBe(true);
  expect(JSON.parse(errors[1].responseBody).message).toContain('forced by the mock');
  // The journal's numbers are the answers' x-request-id.
  const all = await mock.requests();
  expect(all.map((r) => r.seq)).toEqual(all.map((r) => Number(r.responseHeaders.find(([n]) => n === 'x-request-id')![1])));
});

test('an exported state loads back equal, and the browser stays logged in', async ({ mock, page }) => {
  const email = 'admin@example.com';
  await mock.fixtures({
    admins: [{ email, password: 'password123' }],
    members: [{ email: 'dev@example.com', invitedBy: email }],
  });
  await mock.accounts.confirmEmail(email);
  await page.goto(`${mock.url}/__mock/`);
  expect((await call(page, 'auth.login', { email, password: 'password123' })).status).toBe(200);
  const exported = await mock.exportFixtures();

  // (Not asked in between: a 401 would tell the browser to forget its cookie.)
  await mock.reset();
  expect(await mock.accounts.list()).toEqual([]);
  await mock.fixtures(exported, { mode: 'replace' });
  expect(await mock.exportFixtures()).toEqual(exported);
  expect(JSON.parse((await call(page, 'auth.get')).body).email).toBe(email);
});

test('the outbox is waited on, not polled', async ({ mock, page }) => {
  const email = 'a@example.com';
  await mock.fixtures({ admins: [{ email, password: 'password123' }] });
  await page.goto(`${mock.url}/__mock/`);
  const waiting = mock.outbox.waitFor({ to: email }, 5000);
  await call(page, 'auth.sendResetPasswordEmail', { email });
  const mail = await waiting;
  expect(mail.seq).toBe(1);
  expect(mail.tokens).toHaveLength(1);
  await expect(mock.outbox.waitFor({ to: email, after: 1 }, 200)).rejects.toThrow(/408/);
});
