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
  /** Cookie session ids that are logged in. */
  sessions?: string[];
  apiToken?: string;
  /** Members only: the inviting admin's email. */
  invitedBy?: string;
  invitationToken?: string;
}

export interface Fixtures {
  admins?: AccountFixture[];
  members?: AccountFixture[];
}

export interface ClockState {
  now: string;
  nowMs: number;
  follows: 'real' | 'manual';
}

export interface Pin {
  email?: string;
  pin: string;
  validForSeconds: number;
}

export interface Email {
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
  /** How many calls it affects (default 1). */
  times?: number;
}

export interface ReceivedRequest {
  seq: number;
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

export type RequestFilter =
  | ((request: ReceivedRequest) => boolean)
  | Partial<{ [K in keyof ReceivedRequest]: ReceivedRequest[K] | RegExp }>;

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
  fixtures(load: Fixtures): Promise<{ admins: number; members: number }>;
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
    /** The first email matching `predicate`, polling until `timeoutMs` (default 5000). */
    waitFor(predicate: (email: Email) => boolean, timeoutMs?: number): Promise<Email>;
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
