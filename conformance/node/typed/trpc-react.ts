// `createTRPCReact<AppRouter>` (@trpc/react-query 10) accepts the generated router:
// hooks typed by each procedure. Type checked only.
import { createTRPCReact } from '@trpc/react-query';
import type { AppRouter, Auth } from '../../../specs/typescript/router';

export const trpc = createTRPCReact<AppRouter>();

export function useAccount(): { email: string | undefined; fieldErrors: string[] | undefined } {
  const me = trpc.auth.get.useQuery();
  const account: Auth | undefined = me.data;
  const login = trpc.auth.login.useMutation();
  login.mutate({ email: 'admin@example.com', password: 'password123' });
  const members = trpc.user.all.useQuery(undefined, { enabled: account?.rol === 'admin' });
  void members.data?.map((member) => member.auth.email);
  return { email: account?.email, fieldErrors: login.error?.data?.zodError?.fieldErrors.email };
}
