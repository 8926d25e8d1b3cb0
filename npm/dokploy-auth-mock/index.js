// The mock from JavaScript: start it on a free port, drive its control plane, stop it.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { binaryPath } from './lib/binary.js';

/** The last lines of the mock's log kept for error messages. */
const LOG_LINES_KEPT = 30;

function argsFrom(options) {
  const args = ['--listen', options.listen ?? '127.0.0.1:0'];
  const flags = {
    seed: '--seed',
    mode: '--mode',
    clock: '--clock',
    profile: '--profile',
    publicUrl: '--public-url',
    journalCapacity: '--journal-capacity',
    bcryptCost: '--bcrypt-cost',
  };
  for (const [key, flag] of Object.entries(flags)) {
    if (options[key] !== undefined) args.push(flag, String(options[key]));
  }
  if (options.corsOrigins?.length) args.push('--cors-origin', options.corsOrigins.join(','));
  if (options.throttle) args.push('--throttle');
  return [...args, ...(options.args ?? [])];
}

/** Starts the mock; resolves once it listens. See index.d.ts. */
export async function startMock(options = {}) {
  const child = spawn(binaryPath('dokploy-auth-mock'), argsFrom(options), {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const log = [];
  createInterface({ input: child.stderr }).on('line', (line) => {
    if (options.log) options.log(line);
    log.push(line);
    if (log.length > LOG_LINES_KEPT) log.shift();
  });
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const ready = await new Promise((resolve, reject) => {
    const timeoutMs = options.startTimeoutMs ?? 10_000;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`dokploy-auth-mock did not start within ${timeoutMs} ms:\n${log.join('\n')}`));
    }, timeoutMs);
    const lines = createInterface({ input: child.stdout });
    lines.once('line', (line) => {
      clearTimeout(timer);
      try {
        resolve(JSON.parse(line));
      } catch {
        child.kill('SIGKILL');
        reject(new Error(`dokploy-auth-mock's first line is not its ready line: ${line}`));
      }
    });
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`dokploy-auth-mock cannot start: ${error.message}`));
    });
    exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`dokploy-auth-mock exited (${signal ?? code}) before listening:\n${log.join('\n')}`));
    });
  });
  return new Mock(ready, child, exited);
}

class Mock {
  constructor(ready, child, exited) {
    this.url = ready.url;
    this.inspector = ready.inspector;
    this.seed = ready.seed;
    this.process = child;
    this.exited = exited;
    this.clock = {
      now: () => this.#control('GET', '/clock'),
      advance: (by) => this.#control('POST', '/clock', { advance: by }),
      set: (to) => this.#control('POST', '/clock', { set: to instanceof Date ? to.toISOString() : to }),
      follow: (how) => this.#control('POST', '/clock', { follow: how }),
    };
    this.outbox = {
      list: () => this.#control('GET', '/outbox'),
      clear: () => this.#control('DELETE', '/outbox'),
      waitFor: (predicate, timeoutMs = 5000) =>
        typeof predicate === 'function'
          ? this.#waitFor(predicate, timeoutMs)
          : this.#waitForEmail(predicate ?? {}, timeoutMs),
    };
    const account = (action) => (email) => this.#control('POST', `/accounts/${action}`, { email });
    this.accounts = {
      list: async () => (await this.#control('GET', '/accounts')).accounts,
      remove: (email) => this.#control('DELETE', `/accounts?email=${encodeURIComponent(email)}`),
      endSessions: account('end-sessions'),
      disable2FA: account('disable-2fa'),
      confirmEmail: account('confirm-email'),
    };
    this.faults = {
      add: (fault) => this.#control('POST', '/faults', fault),
      list: () => this.#control('GET', '/faults'),
      clear: () => this.#control('DELETE', '/faults'),
    };
  }

  async #control(method, path, body) {
    // The control plane takes changes only as JSON.
    const response = await fetch(`${this.url}/__mock${path}`, {
      method,
      headers: { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    const value = text ? JSON.parse(text) : undefined;
    if (!response.ok) {
      throw new Error(`${method} /__mock${path}: ${response.status} ${value?.message ?? text}`);
    }
    return value;
  }

  /** Waits in the mock (no polling) for an email to `to` with a seq above `after`. */
  async #waitForEmail({ to, after }, timeoutMs) {
    const query = new URLSearchParams({ wait: String(timeoutMs) });
    if (to !== undefined) query.set('to', to);
    if (after !== undefined) query.set('after', String(after));
    const [email] = await this.#control('GET', `/outbox?${query}`);
    return email;
  }

  async #waitFor(predicate, timeoutMs) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = (await this.outbox.list()).find(predicate);
      if (found) return found;
      if (Date.now() >= deadline) {
        throw new Error(`no email in the mock's outbox matched within ${timeoutMs} ms`);
      }
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }

  /** Forgets everything; a new seed if given. */
  reset(seed) {
    return this.#control('POST', '/reset', seed === undefined ? {} : { seed });
  }

  /** Adds admins and members, or (`{ mode: 'replace' }`) puts them in place of every account. */
  fixtures(load, { mode = 'add' } = {}) {
    return this.#control('POST', '/fixtures', { ...load, mode });
  }

  /** The accounts, sessions and invitations now, as fixtures that load back to them. */
  exportFixtures() {
    return this.#control('GET', '/fixtures');
  }

  /** The pin valid now for an account (`email`) or a secret being set up (`{ secret }`). */
  totp(account) {
    const query =
      typeof account === 'string'
        ? `email=${encodeURIComponent(account)}`
        : `secret=${encodeURIComponent(account.secret)}`;
    return this.#control('GET', `/totp?${query}`);
  }

  /** The requests the API received (oldest first), those matching `filter` if given. */
  async requests(filter) {
    // The mock filters by procedure, status and error itself.
    const query = new URLSearchParams();
    if (filter && typeof filter === 'object') {
      for (const key of ['procedure', 'status']) {
        if (filter[key] !== undefined && !(filter[key] instanceof RegExp)) query.set(key, String(filter[key]));
      }
      if (typeof filter.hasError === 'boolean') query.set('error', String(filter.hasError));
    }
    const { requests } = await this.#control('GET', `/requests${query.size ? `?${query}` : ''}`);
    if (!filter) return requests;
    if (typeof filter === 'function') return requests.filter(filter);
    // `procedure` matches any call of a request (a tRPC batch has several).
    return requests.filter((r) =>
      Object.entries(filter).every(([key, value]) => {
        const actual = key === 'procedure' ? r.calls.map((c) => c.procedure) : [r[key]];
        return actual.some((a) => (value instanceof RegExp ? value.test(String(a)) : a === value));
      }),
    );
  }

  /** Stops the mock and waits for it to exit. */
  async stop() {
    if (this.process.exitCode === null && this.process.signalCode === null) {
      this.process.kill('SIGINT');
    }
    await this.exited;
  }

  async [Symbol.asyncDispose]() {
    await this.stop();
  }
}
