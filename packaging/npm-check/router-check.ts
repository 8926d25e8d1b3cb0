// `dokploy-auth-mock/router` as an installed package gives it: typed calls, typed errors.
import { createTRPCProxyClient, httpBatchLink, TRPCClientError } from '@trpc/client';
import superjson from 'superjson';
import type { AppRouter, Auth } from 'dokploy-auth-mock/router';
import type { Mock } from 'dokploy-auth-mock';

export async function typed(mock: Mock): Promise<string | undefined> {
  const trpc = createTRPCProxyClient<AppRouter>({
    transformer: superjson,
    links: [httpBatchLink({ url: `${mock.url}/api/trpc` })],
  });
  const me: Auth = await trpc.auth.get.query();
  // @ts-expect-error: the password is a string
  await trpc.auth.login.mutate({ email: me.email, password: 1 });
  try {
    await trpc.auth.login.mutate({ email: 'nope', password: 'short' });
  } catch (error) {
    if (error instanceof TRPCClientError) {
      return (error as TRPCClientError<AppRouter>).data?.zodError?.fieldErrors.email?.[0];
    }
  }
  return undefined;
}
