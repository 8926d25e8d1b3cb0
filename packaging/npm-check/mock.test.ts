import { expect, inject, test } from 'vitest';

declare module 'vitest' {
  export interface ProvidedContext {
    mockUrl: string;
  }
}

test('the mock from globalSetup answers', async () => {
  const url = inject('mockUrl');
  expect((await fetch(`${url}/api/auth.get`)).status).toBe(401);
  const created = await fetch(`${url}/api/auth.createAdmin`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: 'admin@example.com', password: 'password123' }),
  });
  expect(await created.json()).toBe(true);
});
