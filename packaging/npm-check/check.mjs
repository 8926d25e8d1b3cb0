// What a frontend developer does with the installed package, through its JavaScript
// API only: a cloud sign-up confirmed from the outbox, 2FA set up and used to log in
// (pins from totp), the journal, a fault, the clock, a reset. Prints one JSON line.
import { startMock } from 'dokploy-auth-mock';

const mock = await startMock({ mode: 'cloud', seed: 7 });
const api = async (procedure, body, cookie) => {
  const response = await fetch(`${mock.url}/api/${procedure}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: {
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(cookie ? { cookie } : {}),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  const cookieSet = response.headers.get('set-cookie')?.split(';')[0];
  return { status: response.status, body: text ? JSON.parse(text) : undefined, cookie: cookieSet };
};
const expect = (what, actual, expected) => {
  if (JSON.stringify(actual) !== JSON.stringify(expected)) {
    throw new Error(`${what}: ${JSON.stringify(actual)}, expected ${JSON.stringify(expected)}`);
  }
};

try {
  const credentials = { email: 'admin@example.com', password: 'password123' };
  expect('sign-up', (await api('auth.createAdmin', credentials)).status, 200);
  const mail = await mock.outbox.waitFor((m) => m.to === 'admin@example.com');
  expect('the confirmation', (await api('auth.confirmEmail', { confirmationToken: mail.tokens[0] })).body, true);

  let login = await api('auth.login', credentials);
  expect('login', login.body.is2FAEnabled, false);
  const secret = (await api('auth.generate2FASecret', undefined, login.cookie)).body.secret;
  const setupPin = (await mock.totp({ secret })).pin;
  const enabled = await api('auth.verify2FASetup', { pin: setupPin, secret }, login.cookie);
  expect('2FA enabled', enabled.body.is2FAEnabled, true);
  expect('logout', (await api('auth.logout', {}, login.cookie)).body, true);

  // The set-up pin is used; the next step's is not.
  await mock.clock.advance('30s');
  login = await api('auth.login', credentials);
  expect('login with 2FA', login.body.is2FAEnabled, true);
  const { pin } = await mock.totp('admin@example.com');
  const verified = await api('auth.verifyLogin2FA', { pin, id: login.body.authId });
  expect('the pin', verified.body, true);
  expect('auth.get', (await api('auth.get', undefined, verified.cookie)).body.email, 'admin@example.com');

  const logins = await mock.requests({ path: '/api/auth.login' });
  expect('the journal', logins.length, 2);
  await mock.faults.add({ procedure: 'auth.get', error: 'INTERNAL_SERVER_ERROR' });
  expect('a fault', (await api('auth.get', undefined, verified.cookie)).status, 500);

  const before = (await mock.clock.now()).nowMs;
  expect('the clock', (await mock.clock.advance('1d')).nowMs - before, 86_400_000);
  await mock.reset();
  expect('after reset', (await api('auth.get', undefined, verified.cookie)).status, 401);
  expect('the outbox after reset', (await mock.outbox.list()).length, 0);
  console.log(JSON.stringify({ ok: true, url: mock.url }));
} catch (error) {
  console.log(JSON.stringify({ ok: false, error: String(error) }));
  process.exitCode = 1;
} finally {
  await mock.stop();
}
