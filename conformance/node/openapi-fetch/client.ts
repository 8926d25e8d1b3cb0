// openapi-fetch typed by what openapi-typescript generates from specs/openapi.yaml:
// sign up, log in, read the account with the cookie, log out with the cookie, and
// read a validation error, each answer typed by the document. Run as
// `node dist/client.js <base URL ending in /api>`; prints one JSON line.
import createClient from 'openapi-fetch';
import type { components, paths } from './generated/openapi';

declare const process: { argv: string[]; exitCode?: number };

type Auth = components['schemas']['Auth'];

const AUTH_KEYS: Array<keyof Auth> = [
  'id', 'email', 'rol', 'image', 'secret', 'token', 'is2FAEnabled', 'createdAt',
  'resetPasswordToken', 'resetPasswordExpiresAt', 'confirmationToken', 'confirmationExpiresAt',
];

function fail(what: string, response: Response, body: unknown): never {
  throw new Error(`${what}: ${response.status} ${JSON.stringify(body)}`);
}

function sessionCookie(response: Response): string {
  const cookie = response.headers.get('set-cookie');
  if (!cookie) fail('no session cookie', response, null);
  return cookie.split(';')[0];
}

async function main(): Promise<void> {
  const client = createClient<paths>({ baseUrl: process.argv[2] });
  const credentials = { email: 'admin@example.com', password: 'password123' };

  const created = await client.POST('/auth.createAdmin', { body: credentials });
  if (created.data !== true) fail('auth.createAdmin', created.response, created.error);

  const login = await client.POST('/auth.login', { body: credentials });
  if (!login.data) fail('auth.login', login.response, login.error);
  const authId: string = login.data.authId;
  const cookie = sessionCookie(login.response);

  const me = await client.GET('/auth.get', { headers: { cookie } });
  if (!me.data) fail('auth.get', me.response, me.error);
  const who: Auth = me.data;
  const missing = AUTH_KEYS.filter((key) => !(key in who));
  if (missing.length > 0 || who.id !== authId) fail(`auth.get lacks ${missing}`, me.response, who);

  // A cookie session's change must declare JSON: `body: {}` makes openapi-fetch send it.
  const out = await client.POST('/auth.logout', { headers: { cookie }, body: {} });
  if (out.data !== true) fail('auth.logout with the cookie', out.response, out.error);
  const after = await client.GET('/auth.get', { headers: { cookie } });
  if (after.response.status !== 401) fail('auth.get after logout', after.response, after.data);

  const invalid = await client.POST('/auth.login', { body: { email: 'nope', password: 'short' } });
  const issues = invalid.error?.issues ?? [];
  const codes = issues.map((issue) => issue.code);
  if (invalid.response.status !== 400 || codes.join() !== 'invalid_string,too_small') {
    fail('auth.login with a bad email and password', invalid.response, invalid.error);
  }
  console.log(JSON.stringify({ ok: true, keys: Object.keys(who).length, issues: codes }));
}

main().catch((error: unknown) => {
  console.log(JSON.stringify({ ok: false, error: String(error) }));
  process.exitCode = 1;
});
