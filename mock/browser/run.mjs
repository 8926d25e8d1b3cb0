// The mock in a real browser: Debian's chromium, driven by playwright-core.
// Started by mock/tests/browser.rs, which starts two mocks and passes:
//   SELF_HOSTED_URL  a self-hosted mock (http://127.0.0.1:<port>)
//   CLOUD_URL        a cloud mock whose email links point at the frontend
//   FRONTEND_PORT    where this script serves the frontend (Vite, proxying to CLOUD_URL)
//   SCREENSHOTS      a directory for the screenshots (CI artifacts)
//   CHROMIUM         the browser (default /usr/bin/chromium)
// Each step is printed; the first failure ends the run with exit code 1.
import { chromium } from "playwright-core";
import { createServer } from "vite";
import { mkdirSync } from "node:fs";
import assert from "node:assert/strict";
import { execSync } from "node:child_process";

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set (mock/tests/browser.rs sets it)`);
  return value;
};
const selfHosted = env("SELF_HOSTED_URL");
const cloud = env("CLOUD_URL");
const frontendPort = Number(env("FRONTEND_PORT"));
const screenshots = env("SCREENSHOTS");
mkdirSync(screenshots, { recursive: true });

// Same port, another host name: a different site (127.0.0.1) or the same (localhost).
const selfHostedByName = selfHosted.replace("127.0.0.1", "localhost");
const frontendUrl = `http://localhost:${frontendPort}`;
const ADMIN = { email: "admin@example.com", password: "password123" };

let steps = 0;
async function step(name, body) {
  steps += 1;
  process.stdout.write(`step ${steps}: ${name} … `);
  await body();
  process.stdout.write("ok\n");
}

process.env.MOCK_URL = cloud;
const vite = await createServer({
  configFile: new URL("./vite.config.mjs", import.meta.url).pathname,
  logLevel: "warn",
  server: { port: frontendPort, strictPort: true, host: "localhost" },
});
await vite.listen();

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});
const context = await browser.newContext({
  viewport: { width: 1366, height: 820 },
  permissions: ["clipboard-read", "clipboard-write"],
});

async function shoot(page, name) {
  await page.screenshot({ path: `${screenshots}/${name}.png`, fullPage: true });
}

try {
  // ---------- a frontend on another origin, against the self-hosted mock ----------
  const app = await context.newPage();
  await app.goto(frontendUrl);
  await app.waitForFunction(() => document.getElementById("outcome").textContent === "Ready");
  const call = (base, name, input, options) =>
    app.evaluate(([b, n, i, o]) => window.frontend.call(b, n, i, o), [base, name, input, options]);
  const request = (url, init) => app.evaluate(([u, i]) => window.frontend.request(u, i), [url, init]);

  await step("cross-site (page on localhost, mock on 127.0.0.1): login answers 200, yet no cookie is kept", async () => {
    assert.equal((await call(selfHosted, "auth.createAdmin", ADMIN)).status, 200);
    const login = await call(selfHosted, "auth.login", ADMIN);
    assert.equal(login.status, 200);
    // What the README warns about: Chromium keeps no cookie of another site.
    assert.equal((await call(selfHosted, "auth.get", null, { method: "GET" })).status, 401);
  });

  await step("same host name, other port (localhost to localhost): the cookie is first-party", async () => {
    assert.equal((await call(selfHostedByName, "auth.login", ADMIN)).status, 200);
    const me = await call(selfHostedByName, "auth.get", null, { method: "GET" });
    assert.equal(me.status, 200);
    assert.equal(me.body.email, ADMIN.email);
  });

  await step("a Bearer token works from any origin", async () => {
    const token = await call(selfHostedByName, "auth.generateToken", {});
    assert.equal(token.status, 200);
    const me = await call(selfHosted, "auth.get", null, { method: "GET", bearer: token.body.token });
    assert.equal(me.status, 200);
  });

  await step("2FA set-up: the pin of a secret not enabled yet, from /__mock/totp?secret=", async () => {
    const secret = await call(selfHostedByName, "auth.generate2FASecret", null, { method: "GET" });
    assert.equal(secret.status, 200);
    const pin = await request(`${selfHosted}/__mock/totp?secret=${secret.body.secret}`);
    assert.equal(pin.status, 200);
    const verified = await call(selfHostedByName, "auth.verify2FASetup", {
      pin: JSON.parse(pin.body).pin,
      secret: secret.body.secret,
    });
    assert.equal(verified.status, 200, JSON.stringify(verified.body));
  });

  await step("Retry-After of a forced 429 is readable by page code", async () => {
    const armed = await request(`${selfHosted}/__mock/faults`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ procedure: "auth.login", error: "TOO_MANY_REQUESTS" }),
    });
    assert.equal(armed.status, 200);
    const login = await call(selfHosted, "auth.login", ADMIN);
    assert.equal(login.status, 429);
    assert.equal(login.headers["retry-after"], "1");
  });

  await step("DELETE on the control plane passes the preflight", async () => {
    const cleared = await request(`${selfHosted}/__mock/requests`, { method: "DELETE" });
    assert.equal(cleared.status, 200);
    assert.ok(JSON.parse(cleared.body).cleared > 0);
  });

  await step("a page of another site can neither read the control plane nor arm a fault", async () => {
    // The cloud mock lists no origin: its API answers any page, its control plane none.
    const read = await app.evaluate(async (url) => {
      try {
        await fetch(url);
        return "read";
      } catch {
        return "refused";
      }
    }, `${cloud}/__mock/requests`);
    assert.equal(read, "refused");
    await app.evaluate(async (url) => {
      // A simple request (text/plain): no preflight would stop it.
      const body = JSON.stringify({ procedure: "auth.get", error: "INTERNAL_SERVER_ERROR" });
      await fetch(url, { method: "POST", headers: { "content-type": "text/plain" }, body }).catch(() => {});
    }, `${cloud}/__mock/faults`);
    assert.deepEqual(await (await fetch(`${cloud}/__mock/faults`)).json(), []);
  });

  // ---------- through Vite's proxy, against the cloud mock ----------
  await step("through the Vite proxy: sign-up sends a confirmation email", async () => {
    const created = await call("", "auth.createAdmin", { email: "new@example.com", password: "password123" });
    assert.equal(created.status, 200, JSON.stringify(created.body));
  });

  // ---------- the inspector, on the cloud mock ----------
  const inspector = await context.newPage();
  await inspector.goto(`${cloud}/__mock/`);
  await inspector.waitForSelector("body[data-loaded]");

  await step("the inspector shows the account and the email; its link confirms the address", async () => {
    await inspector.getByRole("tab", { name: /Accounts/ }).click();
    await inspector.locator('#accounts tr[data-email="new@example.com"]').waitFor();
    await inspector.getByRole("tab", { name: /Outbox/ }).click();
    const link = inspector.locator("#outbox a").first();
    await link.waitFor();
    assert.match(await link.textContent(), /\/confirm-email\?token=/);
    await shoot(inspector, "inspector-outbox");
    const [opened] = await Promise.all([context.waitForEvent("page"), link.click()]);
    await opened.waitForFunction(() => document.getElementById("outcome").textContent !== "Loading…");
    assert.equal(await opened.locator("#outcome").textContent(), "Email confirmed");
    await shoot(opened, "frontend-email-confirmed");
    await opened.close();
    const login = await call("", "auth.login", { email: "new@example.com", password: "password123" });
    assert.equal(login.status, 200, JSON.stringify(login.body));
    const me = await call("", "auth.get", null, { method: "GET" });
    assert.equal(me.status, 200);
  });

  await step("fixtures loaded from the page; the pin shown changes when the clock moves", async () => {
    await inspector.getByRole("tab", { name: /Fixtures/ }).click();
    await inspector.getByRole("button", { name: "Put in an example" }).click();
    await inspector.getByRole("button", { name: "Load fixtures" }).click();
    await inspector.getByText("Loaded 1 admins and 2 members").waitFor();
    await inspector.getByRole("tab", { name: /Accounts/ }).click();
    const pin = inspector.getByLabel(`pin of ${ADMIN.email}`);
    await pin.waitFor();
    const before = await pin.textContent();
    assert.match(before, /^\d{6}$/);
    const clockBefore = await inspector.locator("#clock-now").textContent();
    await inspector.getByRole("button", { name: "+30 s" }).click();
    await inspector.waitForFunction((t) => document.getElementById("clock-now").textContent !== t, clockBefore);
    await inspector.waitForFunction(
      ([email, old]) => {
        const shown = document.querySelector(`output[aria-label="pin of ${email}"]`);
        return shown && shown.textContent !== old;
      },
      [ADMIN.email, before],
    );
    await shoot(inspector, "inspector-accounts");
  });

  await step("the pin read from the page logs the admin in with 2FA, and the session appears", async () => {
    const login = await call("", "auth.login", ADMIN);
    assert.equal(login.status, 200);
    assert.equal(login.body.is2FAEnabled, true, JSON.stringify(login.body));
    const pin = await inspector.getByLabel(`pin of ${ADMIN.email}`).textContent();
    const verified = await call("", "auth.verifyLogin2FA", { id: login.body.authId, pin });
    assert.equal(verified.status, 200, JSON.stringify(verified.body));
    // The fixture's one session, and this one.
    await inspector.locator(`#accounts tr[data-email="${ADMIN.email}"] summary`, { hasText: "2 live" }).waitFor();
  });

  await step("a fault added from the page; the failed call found in the journal, with its exchange", async () => {
    await inspector.getByRole("tab", { name: /Faults/ }).click();
    const faults = inspector.getByRole("tabpanel", { name: /Faults/ });
    await faults.getByLabel("Procedure").selectOption("auth.get");
    await faults.getByLabel("Error").selectOption("FORBIDDEN");
    await faults.getByLabel("Message").fill("forced from the inspector");
    await faults.getByRole("button", { name: "Add fault" }).click();
    await inspector.locator("#faults td", { hasText: "forced from the inspector" }).waitFor();
    const forced = await call("", "auth.get", null, { method: "GET" });
    assert.equal(forced.status, 403);
    await inspector.getByRole("tab", { name: /Requests/ }).click();
    const requests = inspector.getByRole("tabpanel", { name: /Requests/ });
    await requests.getByLabel("Procedure").fill("auth.get");
    await requests.getByLabel("Status").selectOption("error");
    const row = inspector.locator("#journal tbody tr").first();
    await row.waitFor();
    assert.equal(await row.locator("td.status").textContent(), "403");
    // Keyboard: focus the row and press Enter.
    await row.focus();
    await inspector.keyboard.press("Enter");
    await inspector.locator("#exchange", { hasText: "forced from the inspector" }).waitFor();
    const headerNames = await inspector.locator("#exchange dt").allTextContents();
    assert.ok(headerNames.includes("content-type") && headerNames.includes("x-request-id"), String(headerNames));
    await shoot(inspector, "inspector-journal");
    // Every request once: the page's list matches the mock's journal.
    await requests.getByLabel("Procedure").fill("");
    await requests.getByLabel("Status").selectOption("");
    const journal = await (await fetch(`${cloud}/__mock/requests`)).json();
    const expected = journal.requests.map((r) => String(r.seq)).reverse();
    await inspector.waitForFunction(
      (n) => document.querySelectorAll("#journal tbody tr").length >= n,
      expected.length,
    );
    const shown = await inspector.locator("#journal tbody tr").evaluateAll((rows) => rows.map((r) => r.dataset.seq));
    assert.deepEqual(shown.slice(-expected.length), expected);
    assert.equal(new Set(shown).size, shown.length, "no request shown twice");
  });

  await step("the forced request: marked, its call shown, copied as curl that runs", async () => {
    const requests = inspector.getByRole("tabpanel", { name: /Requests/ });
    await requests.getByLabel("Status").selectOption("error");
    const row = inspector.locator("#journal tbody tr", { hasText: "forced" }).first();
    await row.click();
    await inspector.locator("#exchange .calls li", { hasText: "auth.get" }).waitFor();
    await inspector.getByRole("button", { name: "Copy as curl" }).click();
    await inspector.getByText(/curl/).first().waitFor();
    const command = await inspector.evaluate(async () => {
      const box = document.getElementById("curl-text");
      return box.hidden ? navigator.clipboard.readText() : box.value;
    });
    assert.match(command, /^curl -i -X GET 'http:\/\/[^']+\/api\/auth\.get'/);
    // The command runs as it is and reaches the mock (the fault was used up).
    const answer = execSync(command, { encoding: "utf8" });
    assert.match(answer, /^HTTP\/1\.1 \d{3}/);
    await requests.getByLabel("Status").selectOption("");
  });

  await step("an account removed with its button", async () => {
    await inspector.getByRole("tab", { name: /Accounts/ }).click();
    const member = inspector.locator('#accounts tr[data-email="new@example.com"]');
    await member.getByRole("button", { name: "Remove" }).click();
    await inspector.getByText("Removed new@example.com").waitFor();
    await member.waitFor({ state: "detached" });
  });

  await step("keyboard: arrow keys move between tabs", async () => {
    await inspector.getByRole("tab", { name: /Requests/ }).focus();
    await inspector.keyboard.press("ArrowRight");
    assert.equal(await inspector.locator("#view-faults").isVisible(), true);
    assert.equal(await inspector.locator("#view-requests").isVisible(), false);
  });

  await step("the clock follows real time and stops again", async () => {
    await inspector.getByRole("button", { name: "Follow real time" }).click();
    const year = String(new Date().getUTCFullYear());
    await inspector.waitForFunction((y) => document.getElementById("clock-now").textContent.startsWith(y), year);
    await inspector.getByRole("button", { name: "Stop the clock" }).click();
    await inspector.locator("#clock-follows", { hasText: "stopped" }).waitFor();
  });

  await step("reset from the page empties accounts, outbox and journal", async () => {
    await inspector.getByRole("button", { name: "Reset" }).click();
    await inspector.getByText(/Reset with seed/).waitFor();
    await inspector.getByRole("tab", { name: /Accounts/ }).click();
    await inspector.locator("#accounts-empty").waitFor({ state: "visible" });
    assert.equal(await inspector.locator("#count-outbox").textContent(), "(0)");
    assert.equal(await inspector.locator("#clock-now").textContent(), "2025-01-01T00:00:00.000Z");
    await shoot(inspector, "inspector-after-reset");
  });

  const failures = [];
  inspector.on("pageerror", (error) => failures.push(error.message));
  await inspector.reload();
  await inspector.waitForSelector("body[data-loaded]");
  assert.deepEqual(failures, [], "the inspector threw no error");
  console.log(`all ${steps} steps passed; screenshots in ${screenshots}`);
} finally {
  await browser.close();
  await vite.close();
}
