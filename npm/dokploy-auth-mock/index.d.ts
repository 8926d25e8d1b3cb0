// The JavaScript API of dokploy-auth-mock. The API's own types (the tRPC AppRouter,
// the records) are in `dokploy-auth-mock/router`.

export interface MockOptions {
  /** Where to listen; default `127.0.0.1:0` (a free port). */
  listen?: string;
  /** The seed of ids and tokens (default 0): the same seed gives the same bytes. */
  seed?: number;
  mode?: 'self-hosted' | 'cloud';
  /** `manual` (default): time moves only when told; `real`: it follows the wall clock. */
  clock?: 'manual' | 'real';
  /** `contract` (default), or `dokploy-0.14` to answer as Dokploy v0.14 does. */
  profile?: 'contract' | 'dokploy-0.14';
  /** Origins allowed to call with credentials (default: any). */
  corsOrigins?: string[];
  /** The site the links in emails point to. */
  publicUrl?: string;
  journalCapacity?: number;
  bcryptCost?: number;
  /** Throttle failed logins as the server does (off by default). */
  throttle?: boolean;
  /** More command-line arguments for the binary. */
  args?: string[];
  /** Called with each log line (standard error); by default logs are kept quietly. */
  log?: (line: string) => void;
  /** How long to wait for the mock to listen (default 10 000 ms). */
  startTimeoutMs?: number;
}

export interface AccountFixture {
  email: string;
  password?: string;
  /** A bcrypt hash stored as it is (thousands of accounts load at once). */
  passwordHash?: string;
  id?: string;
  image?: string;
  /** A base32 TOTP secret: 2FA is then enabled. */
  twoFactorSecret?: string;
  /** Cookie sessions that are logged in: ids, or as `exportFixtures()` gives them. */
  sessions?: Array<string | StoredSession>;
  apiToken?: string;
  /** Members only: the inviting admin's email. */
  invitedBy?: string;
  invitationToken?: string;
  /** Members only (ISO-8601; default a week on). */
  invitationExpiresAt?: string;
  /** Members only: Dokploy's permission flags (all off by default). */
  permissions?: Record<string, boolean | string[]>;
  /** ISO-8601; default the mock's now. */
  createdAt?: string;
  /** Admins: Dokploy's `adminId`; members: its `userId`. */
  roleId?: string;
}

/** A session by the SHA-256 digest of its id (ids are never stored). */
export interface StoredSession {
  digest: string;
  createdAt: string;
  expiresAt: string;
  lastUsedAt?: string;
  clientAddress?: string;
  userAgent?: string;
}

export interface Fixtures {
  admins?: AccountFixture[];
  members?: AccountFixture[];
}

export interface Account {
  id: string;
  email: string;
  role: 'admin' | 'user';
  twoFactor: boolean;
  /** An invited member who has not set a password yet. */
  pending: boolean;
  createdAt: string;
  pin: string | null;
  pinUsed: boolean | null;
  nextPin: string | null;
  sessions: unknown[];
}

export interface ClockState {
  now: string;
  nowMs: number;
  follows: 'real' | 'manual';
}

export interface Pin {
  email?: string;
  pin: string;
  /** A login or the 2FA set-up already spent this pin: use `next.pin`. */
  used: boolean;
  validForSeconds: number;
  /** The next step's pin, accepted already (pins are taken a step early). */
  next: { pin: string; used: boolean; validFrom: string };
}

export interface Email {
  /** 1, 2, 3… as sent. */
  seq: number;
  to: string;
  subject: string;
  text: string;
  html: string;
  links: string[];
  tokens: string[];
  sentAt: string;
}

export interface Fault {
  /** `auth.login`, `user.all`, … */
  procedure: string;
  /** A contract error code (`UNAUTHORIZED`, `TOO_MANY_REQUESTS`, …). */
  error?: string;
  message?: string;
  delayMs?: number;
  /** Close the connection without an answer, or cut the answer's body. */
  network?: 'close' | 'truncate';
  /** Only calls whose input has these values. */
  input?: Record<string, unknown>;
  /** How many calls it affects (default 1), or every call until cleared. */
  times?: number | 'always';
}

export interface ProcedureCall {
  procedure: string;
  /** The input as decoded (superjson unwrapped). */
  input: unknown;
  status: number;
  error: string | null;
  forced: boolean;
}

export interface ReceivedRequest {
  /** In order of arrival; the answer's `x-request-id`. */
  seq: number;
  /** Arrival at the mock's clock, and at the wall clock (ISO-8601). */
  time: string;
  wallTime: string;
  durationMs: number;
  /** A fault answered a call of it. */
  forced: boolean;
  network: 'closed-by-client' | 'closed-by-fault' | 'truncated-by-fault' | null;
  /** One over REST, one per item of a tRPC batch. */
  calls: ProcedureCall[];
  /** An error status, an error inside a batch (207), or a broken connection. */
  hasError: boolean;
  method: string;
  path: string;
  query?: string | null;
  headers: Array<[string, string]>;
  body: string;
  bodyTruncated: boolean;
  status: number;
  responseHeaders: Array<[string, string]>;
  responseBody: string;
}

/** A function, or fields to match (`procedure` matches any call of a batch). */
export type RequestFilter =
  | ((request: ReceivedRequest) => boolean)
  | Partial<
      { [K in keyof ReceivedRequest]: ReceivedRequest[K] | RegExp } & { procedure: string | RegExp }
    >;

export interface Mock {
  /** `http://127.0.0.1:<port>`: the API is under `/api`, the control plane under `/__mock`. */
  readonly url: string;
  /** The inspector page. */
  readonly inspector: string;
  readonly seed: number;
  /** The mock's process (a Node `ChildProcess`). */
  readonly process: { readonly pid?: number; kill(signal?: string | number): boolean };
  /** Forgets everything (accounts, sessions, outbox, journal, faults); a new seed if given. */
  reset(seed?: number): Promise<{ seed: number }>;
  /** Adds accounts, or (`mode: 'replace'`) puts them in place of every account. */
  fixtures(
    load: Fixtures,
    options?: { mode?: 'add' | 'replace' },
  ): Promise<{ admins: number; members: number; mode: 'add' | 'replace' }>;
  /** The accounts, sessions and invitations now, as fixtures that load back to them. */
  exportFixtures(): Promise<Fixtures>;
  accounts: {
    list(): Promise<Account[]>;
    /** Removes an account, its sessions and invitation (an admin with members is refused). */
    remove(email: string): Promise<{ removed: string }>;
    endSessions(email: string): Promise<{ ended: number }>;
    disable2FA(email: string): Promise<{ wasOn: boolean }>;
    confirmEmail(email: string): Promise<{ wasUnconfirmed: boolean }>;
  };
  clock: {
    now(): Promise<ClockState>;
    /** `"90s"`, `"2h"`, `"1d"` or milliseconds. */
    advance(by: string | number): Promise<ClockState>;
    set(to: Date | string | number): Promise<ClockState>;
    follow(how: 'real' | 'manual'): Promise<ClockState>;
  };
  /** The pin valid now for an account, or for a secret being set up. */
  totp(account: string | { secret: string }): Promise<Pin>;
  outbox: {
    list(): Promise<Email[]>;
    clear(): Promise<{ cleared: number }>;
    /**
     * The first email to `to` (with a seq above `after`), waited for in the mock; or the
     * first matching a function, polling. Rejects after `timeoutMs` (default 5000).
     */
    waitFor(
      match: { to?: string; after?: number } | ((email: Email) => boolean),
      timeoutMs?: number,
    ): Promise<Email>;
  };
  faults: {
    add(fault: Fault): Promise<Fault[]>;
    list(): Promise<Fault[]>;
    clear(): Promise<{ cleared: number }>;
  };
  /** The requests the API received, oldest first; those matching `filter` if given. */
  requests(filter?: RequestFilter): Promise<ReceivedRequest[]>;
  /** Stops the mock and waits for it to exit (also `await using`, where supported). */
  stop(): Promise<void>;
}

/** Starts the mock (on a free port by default); resolves once it listens. */
export function startMock(options?: MockOptions): Promise<Mock>;
