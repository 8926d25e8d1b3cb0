// Generated from the specs crate by `make contract`: do not edit by hand.
//
// The tRPC router of the Dokploy auth API as a type, for
// `createTRPCProxyClient<AppRouter>` and `createTRPCReact<AppRouter>` (tRPC 10)
// with `transformer: superjson`. Needs `@trpc/server` 10 (types only).
import type {
  CreateRouterInner,
  DataTransformer,
  DefaultErrorShape,
  Procedure,
  ProcedureParams,
  RootConfig,
} from '@trpc/server';

/** Always `true`: failures are errors. */
export type True = true;

export interface LoginOutput {
  /** When true no session was made; finish with `auth.verifyLogin2FA`. */
  is2FAEnabled: boolean;
  authId: Id;
}

/** A nanoid. */
export type Id = string;

/** An account. Never the password hash; `secret`, `resetPasswordToken` and `confirmationToken` are always `null`; `token` (the API token) is shown to its owner only. */
export interface Auth {
  id: Id;
  /** Lowercased; it passed zod's email rule. */
  email: string;
  rol: "admin" | "user";
  /** `/avatars/avatar-N.png` (N from 1 to 12) chosen at creation, or what `auth.update` set: an `/avatars/…` path, an https URL or a data:image URL. */
  image: string;
  /** Always `null`: the 2FA secret is never shown. */
  secret: string | null;
  /** The current API token, to its owner; `null` elsewhere. */
  token: string | null;
  is2FAEnabled: boolean;
  createdAt: Timestamp;
  /** Always `null`: reset tokens go by email only. */
  resetPasswordToken: string | null;
  resetPasswordExpiresAt: (Timestamp | null);
  /** Always `null`: confirmation tokens go by email only. */
  confirmationToken: string | null;
  confirmationExpiresAt: (Timestamp | null);
}

/** ISO-8601 in UTC with milliseconds, as JavaScript's `toISOString()`. */
export type Timestamp = string;

export interface TwoFactorSecret {
  /** A PNG of the `otpauth://totp/Dokploy:<email>?…&issuer=Dokploy` URI. */
  qrCodeUrl: string;
  /** Base32, 15 random bytes. */
  secret: string;
}

/** A member with `isExpired`. */
export interface Invitation {
  userId: Id;
  /** The invitation token; the link is `<site>/invitation?token=<token>`. */
  token: string;
  isRegistered: boolean;
  expirationDate: Timestamp;
  createdAt: Timestamp;
  canCreateProjects: boolean;
  canAccessToSSHKeys: boolean;
  canCreateServices: boolean;
  canDeleteProjects: boolean;
  canDeleteServices: boolean;
  canAccessToDocker: boolean;
  canAccessToAPI: boolean;
  canAccessToGitProviders: boolean;
  canAccessToTraefikFiles: boolean;
  /** Dokploy's spelling. */
  accesedProjects: string[];
  /** Dokploy's spelling. */
  accesedServices: string[];
  adminId: Id;
  authId: Id;
  auth: Auth;
  /** True once registered or 24 h after the invitation. */
  isExpired: boolean;
}

/** An invited member (Dokploy's `user` record) with its account. */
export interface Member {
  userId: Id;
  /** The invitation token; the link is `<site>/invitation?token=<token>`. */
  token: string;
  isRegistered: boolean;
  expirationDate: Timestamp;
  createdAt: Timestamp;
  canCreateProjects: boolean;
  canAccessToSSHKeys: boolean;
  canCreateServices: boolean;
  canDeleteProjects: boolean;
  canDeleteServices: boolean;
  canAccessToDocker: boolean;
  canAccessToAPI: boolean;
  canAccessToGitProviders: boolean;
  canAccessToTraefikFiles: boolean;
  /** Dokploy's spelling. */
  accesedProjects: string[];
  /** Dokploy's spelling. */
  accesedServices: string[];
  adminId: Id;
  authId: Id;
  auth: Auth;
}

export interface Session {
  /** Opaque; names the session to `auth.endSession`. Never the session id. */
  handle: string;
  kind: "cookie" | "apiToken";
  createdAt: Timestamp;
  lastUsedAt: Timestamp;
  expiresAt: Timestamp;
  /** The client address when the session was made. */
  clientAddress: string | null;
  /** The `User-Agent` when the session was made. */
  userAgent: string | null;
  /** The session this request came with. */
  current: boolean;
}

/** How many sessions were ended. */
export type Count = number;

export interface CreateAdminInput {
  /** zod's email rule */
  email: string;
  password: string;
}

/** `id` is the invited account's id (`authId`); it must be the one the token was issued for. */
export interface CreateUserInput {
  password: string;
  id: string;
  token: string;
}

export interface LoginInput {
  /** zod's email rule */
  email: string;
  password: string;
}

/** Only `email`, `password` and `image` are used; `null` or `""` leaves a field as it is. The other keys are accepted, type-checked and ignored. */
export interface UpdateInput {
  id?: string;
  /** zod's email rule, or `""` for unchanged */
  email: string | null;
  /** `""` for unchanged */
  password: string | null;
  rol?: "admin" | "user";
  /** an `/avatars/…` path, an `https://` URL or a `data:image/(png|jpeg|gif|webp|svg+xml);base64,…` URL, or `""` for unchanged */
  image?: string;
  secret?: string | null;
  token?: string | null;
  is2FAEnabled?: boolean;
  createdAt?: string;
  resetPasswordToken?: string | null;
  resetPasswordExpiresAt?: string | null;
  confirmationToken?: string | null;
  confirmationExpiresAt?: string | null;
}

export interface OneInput {
  id: string;
}

/** `secret` is the base32 secret from `auth.generate2FASecret`. */
export interface Verify2FASetupInput {
  pin: string;
  secret: string;
}

/** `id` is the `authId` from `auth.login`. */
export interface VerifyLogin2FAInput {
  pin: string;
  id: string;
}

export interface SendResetPasswordEmailInput {
  /** zod's email rule */
  email: string;
}

export interface ResetPasswordInput {
  resetPasswordToken: string;
  password: string;
}

export interface ConfirmEmailInput {
  confirmationToken: string;
}

export interface CreateUserInvitationInput {
  /** zod's email rule */
  email: string;
}

export interface GetUserByTokenInput {
  token: string;
}

export interface RemoveUserInput {
  authId: string;
}

/** `handle` is a session's handle from `auth.listSessions`. */
export interface EndSessionInput {
  handle: string;
}

export interface EndMemberSessionsInput {
  authId: string;
}

/** zod's `error.flatten()`: what `error.data.zodError` holds when input validation failed. */
export interface ZodFlattenedError {
  formErrors: string[];
  fieldErrors: { [field: string]: string[] | undefined };
}

/** tRPC's default error shape plus Dokploy's `zodError` (`null` unless input validation failed). */
export type ErrorShape = DefaultErrorShape & {
  data: { zodError: ZodFlattenedError | null };
};

type Config = RootConfig<{
  ctx: object;
  meta: object;
  errorShape: ErrorShape;
  transformer: DataTransformer;
}>;

type Query<TInput, TOutput> = Procedure<
  'query',
  ProcedureParams<Config, object, TInput, TInput, TOutput, TOutput, object>
>;
type Mutation<TInput, TOutput> = Procedure<
  'mutation',
  ProcedureParams<Config, object, TInput, TInput, TOutput, TOutput, object>
>;

/** Every procedure of the contract, by namespace (`auth.login` is `auth.login`). */
export type AppRouter = CreateRouterInner<Config, {
  auth: CreateRouterInner<Config, {
    /** Create the first admin (self-hosted) or sign up an admin (cloud). */
    createAdmin: Mutation<CreateAdminInput, True>;
    /** Accept an invitation: set the password of the invited account and log in. */
    createUser: Mutation<CreateUserInput, True>;
    /** Log in with email and password. */
    login: Mutation<LoginInput, LoginOutput>;
    /** The caller's account. */
    get: Query<void | undefined, Auth>;
    /** Check that the credential is valid (Dokploy's CLI calls this). */
    verifyToken: Mutation<void | undefined, True>;
    /** End the cookie session; false when the request carried no cookie session. */
    logout: Mutation<void | undefined, boolean>;
    /** Change the caller's email, password or image. */
    update: Mutation<UpdateInput, Auth>;
    /** Replace the caller's API token. */
    generateToken: Mutation<void | undefined, Auth>;
    /** An account of the admin's organisation by id. */
    one: Query<OneInput, Auth>;
    /** A new TOTP secret and its QR code (not stored until verified). */
    generate2FASecret: Query<void | undefined, TwoFactorSecret>;
    /** Enable 2FA with a secret and a current pin. */
    verify2FASetup: Mutation<Verify2FASetupInput, Auth>;
    /** Finish a login on a 2FA account with a current pin. */
    verifyLogin2FA: Mutation<VerifyLogin2FAInput, True>;
    /** Disable 2FA. */
    disable2FA: Mutation<void | undefined, Auth>;
    /** Email a password reset link (cloud); the same answer whether or not the email has an account. */
    sendResetPasswordEmail: Mutation<SendResetPasswordEmailInput, void>;
    /** Set a new password with the token from the reset email (cloud). */
    resetPassword: Mutation<ResetPasswordInput, True>;
    /** Confirm an email address with the token from the confirmation email (cloud). */
    confirmEmail: Mutation<ConfirmEmailInput, True>;
    /** The caller's sessions (beyond Dokploy). */
    listSessions: Query<void | undefined, Session[]>;
    /** End one of the caller's sessions by its handle (beyond Dokploy). */
    endSession: Mutation<EndSessionInput, True>;
    /** End every session of the caller but this one; how many (beyond Dokploy). */
    endOtherSessions: Mutation<void | undefined, Count>;
  }>;
  admin: CreateRouterInner<Config, {
    /** Invite a member by email. */
    createUserInvitation: Mutation<CreateUserInvitationInput, void>;
    /** The invitation behind a link (public: the invitation page reads it). */
    getUserByToken: Query<GetUserByTokenInput, Invitation>;
    /** Remove a member and its account. */
    removeUser: Mutation<RemoveUserInput, void>;
    /** End every session of a member; how many (beyond Dokploy). */
    endMemberSessions: Mutation<EndMemberSessionsInput, Count>;
  }>;
  user: CreateRouterInner<Config, {
    /** The admin's members. */
    all: Query<void | undefined, Member[]>;
  }>;
}>;
