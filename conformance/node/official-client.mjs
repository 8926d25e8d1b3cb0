// Drives a target with Dokploy's own client stack: @trpc/client 10.x with
// httpBatchLink and superjson 2.x, as Dokploy's web frontend does.
//
//   node official-client.mjs http://127.0.0.1:3000
//
// The target's clock is the Rust test's to move: the script asks for it with a
// line `{"ask":"now"}` or `{"ask":"advance","ms":N}` on stdout and reads the answer
// (milliseconds since the epoch) as a line on stdin. Any failed expectation throws;
// the last line is `{"done":true,...}` on success.
import { createTRPCProxyClient, httpBatchLink, TRPCClientError } from "@trpc/client";
import superjson from "superjson";
import { createHmac } from "node:crypto";
import { createInterface } from "node:readline";

const base = process.argv[2];
if (!base) throw new Error("usage: node official-client.mjs <base-url>");

const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
async function ask(question) {
  console.log(JSON.stringify(question));
  const { value, done } = await lines.next();
  if (done) throw new Error("the test closed stdin");
  return Number(value);
}

function check(condition, what) {
  if (!condition) throw new Error(`expectation failed: ${what}`);
}

// A browser's cookie jar, reduced to the one cookie, plus a count of requests so
// the test can tell that a batch went as one.
let cookie = null;
const requests = [];
async function browserFetch(url, init) {
  const headers = { ...(init?.headers ?? {}) };
  if (cookie) headers.cookie = cookie;
  requests.push({ url: String(url), method: init?.method ?? "GET" });
  const response = await fetch(url, { ...init, headers });
  const set = response.headers.get("set-cookie");
  if (set) {
    const pair = set.split(";")[0];
    cookie = pair.endsWith("=") ? null : pair;
  }
  return response;
}

const client = createTRPCProxyClient({
  transformer: superjson,
  links: [httpBatchLink({ url: `${base}/api/trpc`, fetch: browserFetch })],
});

async function expectError(promise, what) {
  try {
    await promise;
  } catch (error) {
    check(error instanceof TRPCClientError, `${what}: a TRPCClientError`);
    return error;
  }
  throw new Error(`expectation failed: ${what} should fail`);
}

// RFC 6238 with SHA-1, 6 digits, 30 s steps, as authenticator apps compute it.
function totp(secretBase32, nowMs) {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = "";
  for (const c of secretBase32.replace(/=+$/, "")) {
    bits += alphabet.indexOf(c.toUpperCase()).toString(2).padStart(5, "0");
  }
  const key = Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(nowMs / 30000)));
  const mac = createHmac("sha1", key).update(counter).digest();
  const offset = mac[mac.length - 1] & 0xf;
  const code = (mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000;
  return String(code).padStart(6, "0");
}

const email = "admin@example.com";
const password = "correct horse battery";
const report = {};

// Validation errors reach the client with data.code and zod's flatten().
const invalid = await expectError(
  client.auth.createAdmin.mutate({ email: "not an email", password: "short" }),
  "createAdmin with bad input",
);
check(invalid.data?.code === "BAD_REQUEST", "invalid input: data.code BAD_REQUEST");
check(invalid.data?.httpStatus === 400, "invalid input: data.httpStatus 400");
check(invalid.data?.path === "auth.createAdmin", "invalid input: data.path");
check(
  JSON.stringify(invalid.data?.zodError?.fieldErrors) ===
    JSON.stringify({
      email: ["Invalid email"],
      password: ["String must contain at least 8 character(s)"],
    }),
  `invalid input: zodError.fieldErrors, got ${JSON.stringify(invalid.data?.zodError)}`,
);
check(Array.isArray(JSON.parse(invalid.message)), "invalid input: message is the issues as JSON");

// The first admin, then the admin's own record through the cookie.
check((await client.auth.createAdmin.mutate({ email, password })) === true, "createAdmin answers true");
check(cookie !== null, "createAdmin sets the session cookie");
const me = await client.auth.get.query();
check(me.email === email && me.rol === "admin", `auth.get shows the admin, got ${JSON.stringify(me)}`);
check(!("password" in me), "auth.get never shows the password hash");

// A wrong password: its error object carries the contract's code.
await client.auth.logout.mutate();
check(cookie === null, "logout clears the cookie");
const unauthorized = await expectError(client.auth.get.query(), "auth.get after logout");
check(unauthorized.data?.code === "UNAUTHORIZED", "after logout: UNAUTHORIZED");
check(unauthorized.data?.zodError === null, "after logout: zodError null");
const wrong = await expectError(
  client.auth.login.mutate({ email, password: "wrong password" }),
  "login with a wrong password",
);
check(wrong.data?.code === "BAD_REQUEST", "wrong password: BAD_REQUEST");
check(wrong.message === "Error: Credentials do not match", `wrong password message, got ${wrong.message}`);

const login = await client.auth.login.mutate({ email, password });
check(login.is2FAEnabled === false && typeof login.authId === "string", "login without 2FA");

// Three queries in one tick go as one batched request, answered in order.
const before = requests.length;
const [again, members, one] = await Promise.all([
  client.auth.get.query(),
  client.user.all.query(),
  client.auth.one.query({ id: login.authId }),
]);
check(requests.length === before + 1, `three calls in one request, made ${requests.length - before}`);
check(requests.at(-1).url.includes("auth.get,user.all,auth.one"), "the batch names all three");
check(again.id === login.authId && Array.isArray(members) && one.id === login.authId, "batch results in order");

// A batch with one success and one error (207): each promise gets its own item.
const mixed = await Promise.allSettled([
  client.auth.get.query(),
  client.auth.one.query({}),
]);
check(mixed[0].status === "fulfilled", "mixed batch: the good call succeeds");
check(mixed[1].status === "rejected" && mixed[1].reason.data?.code === "BAD_REQUEST", "mixed batch: the bad call fails");
check(
  JSON.stringify(mixed[1].reason.data?.zodError) === JSON.stringify({ formErrors: [], fieldErrors: { id: ["Required"] } }),
  "mixed batch: zodError of the missing id",
);

// 2FA: a secret, a pin from it to enable, then a login that needs a pin.
const { secret, qrCodeUrl } = await client.auth.generate2FASecret.query();
check(qrCodeUrl.startsWith("data:image/png;base64,"), "a QR code as a PNG data URL");
const enabled = await client.auth.verify2FASetup.mutate({ secret, pin: totp(secret, await ask({ ask: "now" })) });
check(enabled.is2FAEnabled === true, "verify2FASetup enables 2FA");
await client.auth.logout.mutate();
const first = await client.auth.login.mutate({ email, password });
check(first.is2FAEnabled === true && cookie === null, "login asks for a pin and sets no cookie");
const badPin = await expectError(
  client.auth.verifyLogin2FA.mutate({ id: first.authId, pin: "000000" === totp(secret, await ask({ ask: "now" })) ? "111111" : "000000" }),
  "a wrong pin",
);
check(badPin.data?.code === "BAD_REQUEST" && badPin.message === "Invalid 2FA code", "a wrong pin: Invalid 2FA code");
// The setup pin's step is used up: the login pin comes from the next step.
const later = await ask({ ask: "advance", ms: 30_000 });
const pinned = await client.auth.verifyLogin2FA.mutate({ id: first.authId, pin: totp(secret, later) });
check(pinned === true && cookie !== null, "a right pin logs in and sets the cookie");
check((await client.auth.get.query()).is2FAEnabled === true, "auth.get after the pin");

// An API token for the CLI to use.
const withToken = await client.auth.generateToken.mutate();
check(typeof withToken.token === "string" && withToken.token.length > 0, "generateToken shows a token");
report.token = withToken.token;

// Wrong kind: a mutation called as a query answers NOT_FOUND.
const wrongKind = await expectError(client.auth.login.query({ email, password }), "a mutation as a query");
check(wrongKind.data?.code === "NOT_FOUND", "wrong kind: NOT_FOUND");
check(wrongKind.message === 'No "query"-procedure on path "auth.login"', `wrong kind message, got ${wrongKind.message}`);

console.log(JSON.stringify({ done: true, requests: requests.length, ...report }));
process.exit(0);
