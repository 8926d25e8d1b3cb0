// Every procedure called through `createTRPCProxyClient<AppRouter>` as Dokploy's
// frontend makes it (tRPC 10, superjson), each input and output typed by the
// generated router. Type checked only (`tsc --noEmit`): the official client runs
// against the server and the mock in conformance/tests/node_clients.rs.
import { createTRPCProxyClient, httpBatchLink, TRPCClientError } from '@trpc/client';
import superjson from 'superjson';
import type {
  AppRouter,
  Auth,
  Invitation,
  LoginOutput,
  Member,
  Session,
  TwoFactorSecret,
  UpdateInput,
} from '../../../specs/typescript/router';

export const client = createTRPCProxyClient<AppRouter>({
  transformer: superjson,
  links: [httpBatchLink({ url: 'http://localhost:4000/api/trpc' })],
});

export async function everyProcedure(): Promise<void> {
  const created: true = await client.auth.createAdmin.mutate({
    email: 'admin@example.com',
    password: 'password123',
  });
  const login: LoginOutput = await client.auth.login.mutate({
    email: 'admin@example.com',
    password: 'password123',
  });
  if (login.is2FAEnabled) {
    const done: true = await client.auth.verifyLogin2FA.mutate({ pin: '123456', id: login.authId });
    void done;
  }
  const me: Auth = await client.auth.get.query();
  const role: 'admin' | 'user' = me.rol;
  const secretHidden: string | null = me.secret;
  const verified: true = await client.auth.verifyToken.mutate();
  const update: UpdateInput = { email: 'new@example.com', password: null, image: '/avatars/avatar-2.png' };
  const updated: Auth = await client.auth.update.mutate(update);
  const withToken: Auth = await client.auth.generateToken.mutate();
  const apiToken: string | null = withToken.token;
  const one: Auth = await client.auth.one.query({ id: me.id });
  const secret: TwoFactorSecret = await client.auth.generate2FASecret.query();
  const enabled: Auth = await client.auth.verify2FASetup.mutate({ pin: '123456', secret: secret.secret });
  const disabled: Auth = await client.auth.disable2FA.mutate();
  const resetSent: void = await client.auth.sendResetPasswordEmail.mutate({ email: 'admin@example.com' });
  const reset: true = await client.auth.resetPassword.mutate({ resetPasswordToken: 't', password: 'password456' });
  const confirmed: true = await client.auth.confirmEmail.mutate({ confirmationToken: 't' });
  const invited: void = await client.admin.createUserInvitation.mutate({ email: 'member@example.com' });
  const members: Member[] = await client.user.all.query();
  const invitation: Invitation = await client.admin.getUserByToken.query({ token: members[0].token });
  const expired: boolean = invitation.isExpired;
  const accepted: true = await client.auth.createUser.mutate({
    password: 'password123',
    id: invitation.authId,
    token: invitation.token,
  });
  const sessions: Session[] = await client.auth.listSessions.query();
  const kind: 'cookie' | 'apiToken' = sessions[0].kind;
  const ended: true = await client.auth.endSession.mutate({ handle: sessions[0].handle });
  const others: number = await client.auth.endOtherSessions.mutate();
  const memberSessions: number = await client.admin.endMemberSessions.mutate({ authId: invitation.authId });
  const removed: void = await client.admin.removeUser.mutate({ authId: invitation.authId });
  const loggedOut: boolean = await client.auth.logout.mutate();
  void [created, role, secretHidden, verified, updated, apiToken, one, enabled, disabled, resetSent];
  void [reset, confirmed, invited, expired, accepted, kind, ended, others, memberSessions, removed, loggedOut];
}

/** The error shape: `data.code`, `data.httpStatus` and zod's flattened issues. */
export async function errors(): Promise<string[] | undefined> {
  try {
    await client.auth.login.mutate({ email: 'not an email', password: 'short' });
    return undefined;
  } catch (error) {
    if (!(error instanceof TRPCClientError)) throw error;
    const typed = error as TRPCClientError<AppRouter>;
    const code: string | undefined = typed.data?.code;
    const status: number | undefined = typed.data?.httpStatus;
    const formErrors: string[] | undefined = typed.data?.zodError?.formErrors;
    void [code, status, formErrors];
    return typed.data?.zodError?.fieldErrors.email;
  }
}
