// Calls the generated router must refuse: each line below its `@ts-expect-error`
// must fail to type check, or tsc reports the directive as unused and the check fails.
import { client } from './trpc-client';
import type { Auth } from '../../../specs/typescript/router';

export async function wrongCalls(): Promise<void> {
  // @ts-expect-error: a wrong input type (the password is a string)
  await client.auth.login.mutate({ email: 'admin@example.com', password: 12345678 });
  // @ts-expect-error: a missing field (no password)
  await client.auth.login.mutate({ email: 'admin@example.com' });
  // @ts-expect-error: a misspelt procedure
  await client.auth.logn.mutate({ email: 'admin@example.com', password: 'password123' });
  // @ts-expect-error: a query called as a mutation
  await client.auth.get.mutate();
  // @ts-expect-error: a mutation called as a query
  await client.auth.logout.query();
  // @ts-expect-error: a role that is not one
  await client.auth.update.mutate({ email: null, password: null, rol: 'root' });
  // @ts-expect-error: a procedure of another namespace
  await client.user.login.mutate({ email: 'admin@example.com', password: 'password123' });
  // @ts-expect-error: a required input left out
  await client.auth.one.query();
  // @ts-expect-error: the output is an account, not a string
  const wrongOutput: string = await client.auth.get.query();
  // @ts-expect-error: an account has no password field
  const noPassword: Auth['password'] = '';
  void [wrongOutput, noPassword];
}
