// The mock's inspector: reads and drives the mock through its control plane
// (/__mock/…) only. Everything shown is set as text (never as HTML): request
// bodies in the journal come from anyone.
"use strict";

const POLL_MS = 1000;
const JOURNAL_ROWS = 500;

const $ = (id) => document.getElementById(id);

/** An element with attributes and children (strings become text nodes). */
function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") node.className = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function say(message, isError = false) {
  const status = $("status");
  status.textContent = message;
  status.classList.toggle("error", isError);
}

/** A control-plane call; throws the envelope's message on an error status. */
async function control(method, path, body) {
  // The control plane takes changes only as JSON (a page of another site cannot send it).
  const init = { method, headers: { "content-type": "application/json" } };
  if (body !== undefined) {
    init.body = typeof body === "string" ? body : JSON.stringify(body);
  }
  const response = await fetch(`/__mock/${path}`, init);
  const text = await response.text();
  let value = null;
  try {
    value = text ? JSON.parse(text) : null;
  } catch {
    value = text;
  }
  if (!response.ok) {
    const message = value && value.message ? value.message : `${response.status} ${text}`;
    throw new Error(message);
  }
  return value;
}

/** Runs an action from a button or form, and says how it went. */
async function act(what, action) {
  try {
    const message = await action();
    say(message || `${what}: done`);
    await refresh();
  } catch (error) {
    say(`${what}: ${error.message}`, true);
  }
}

// ---- state mirrored from the mock ----
const state = {
  view: "accounts",
  journal: [],
  journalGeneration: null,
  nextSeq: 0,
  selectedSeq: null,
  outboxShown: null,
  faultsShown: null,
  accountsShown: null,
};

// ---- tabs ----
const VIEWS = ["accounts", "outbox", "requests", "faults", "fixtures"];

function show(view) {
  if (!VIEWS.includes(view)) view = "accounts";
  state.view = view;
  for (const name of VIEWS) {
    const tab = $(`tab-${name}`);
    const selected = name === view;
    tab.setAttribute("aria-selected", String(selected));
    tab.tabIndex = selected ? 0 : -1;
    $(`view-${name}`).hidden = !selected;
  }
  if (location.hash !== `#${view}`) history.replaceState(null, "", `#${view}`);
  refresh();
}

function setUpTabs() {
  const tabs = VIEWS.map((name) => $(`tab-${name}`));
  tabs.forEach((tab, index) => {
    tab.addEventListener("click", () => show(tab.dataset.view));
    // Arrow keys move between tabs, as in any tab list.
    tab.addEventListener("keydown", (event) => {
      const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
      if (!step) return;
      const next = tabs[(index + step + tabs.length) % tabs.length];
      next.focus();
      show(next.dataset.view);
    });
  });
  window.addEventListener("hashchange", () => show(location.hash.slice(1)));
}

// ---- clock ----
function renderClock(clock) {
  $("clock-now").textContent = clock.now;
  const follows = clock.follows === "real";
  $("clock-follows").textContent = follows ? "following real time" : "stopped (moves when told)";
  $("clock-follow").textContent = follows ? "Stop the clock" : "Follow real time";
  $("clock-follow").dataset.follow = follows ? "manual" : "real";
}

function setUpClock() {
  for (const button of document.querySelectorAll("[data-advance]")) {
    button.addEventListener("click", () =>
      act("Clock", async () => {
        const clock = await control("POST", "clock", { advance: button.dataset.advance });
        renderClock(clock);
        return `Clock advanced ${button.dataset.advance}: now ${clock.now}`;
      }),
    );
  }
  $("clock-set").addEventListener("submit", (event) => {
    event.preventDefault();
    const text = $("clock-input").value.trim();
    const set = /^-?\d+$/.test(text) ? Number(text) : text;
    act("Clock", async () => {
      const clock = await control("POST", "clock", { set });
      renderClock(clock);
      return `Clock set: now ${clock.now}`;
    });
  });
  $("clock-follow").addEventListener("click", () =>
    act("Clock", async () => {
      const clock = await control("POST", "clock", { follow: $("clock-follow").dataset.follow });
      renderClock(clock);
      return clock.follows === "real" ? "The clock follows real time" : `Clock stopped at ${clock.now}`;
    }),
  );
}

// ---- reset, facts ----
function setUpReset() {
  $("reset-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const text = $("reset-seed").value.trim();
    if (text && !/^\d+$/.test(text)) {
      say("Reset: the seed is a non-negative integer", true);
      return;
    }
    const body = text ? { seed: Number(text) } : {};
    act("Reset", async () => {
      const answer = await control("POST", "reset", body);
      state.selectedSeq = null;
      await loadInfo();
      return `Reset with seed ${answer.seed}`;
    });
  });
}

async function loadInfo() {
  const info = await control("GET", "info");
  $("facts").textContent = `${info.mode} · seed ${info.seed}`;
  const names = $("procedure-names");
  const select = $("fault-procedure");
  if (!select.options.length) {
    for (const name of info.procedures) {
      names.append(el("option", { value: name }));
      select.append(el("option", { value: name }, name));
    }
    for (const code of info.errorCodes) {
      $("fault-error").append(el("option", { value: code }, code));
    }
  }
}

// ---- accounts ----
function sessionList(sessions) {
  if (!sessions.length) return "none";
  return el(
    "details",
    {},
    el("summary", {}, `${sessions.length} live`),
    el(
      "ul",
      { class: "sessions" },
      sessions.map((s) =>
        el(
          "li",
          {},
          el("strong", {}, s.kind === "apiToken" ? "API token" : "cookie"),
          ` ${s.handle} · made ${s.createdAt} · used ${s.lastUsedAt} · expires ${s.expiresAt}`,
          s.clientAddress ? ` · from ${s.clientAddress}` : "",
          s.userAgent ? ` · ${s.userAgent}` : "",
        ),
      ),
    ),
  );
}

/** A button that runs a control-plane action on one account. */
function accountAction(label, email, what, action) {
  return el("button", { type: "button", "data-action": label, onclick: () => act(what, action) }, label);
}

function accountActions(a) {
  const body = { email: a.email };
  return el(
    "div",
    { class: "actions" },
    a.sessions.length
      ? accountAction("End sessions", a.email, "Sessions", async () => {
          const { ended } = await control("POST", "accounts/end-sessions", body);
          return `Ended ${ended} sessions of ${a.email}`;
        })
      : null,
    a.twoFactor
      ? accountAction("2FA off", a.email, "2FA", async () => {
          await control("POST", "accounts/disable-2fa", body);
          return `2FA turned off for ${a.email}`;
        })
      : null,
    accountAction("Confirm email", a.email, "Email", async () => {
      const { wasUnconfirmed } = await control("POST", "accounts/confirm-email", body);
      return wasUnconfirmed ? `${a.email} confirmed` : `${a.email} was confirmed already`;
    }),
    accountAction("Remove", a.email, "Remove", async () => {
      await control("DELETE", `accounts?email=${encodeURIComponent(a.email)}`);
      return `Removed ${a.email}`;
    }),
  );
}

function pinCell(a) {
  if (!a.pin) return "–";
  return [
    el("output", { "aria-label": `pin of ${a.email}`, class: a.pinUsed ? "used" : "" }, a.pin),
    a.pinUsed ? el("span", { class: "badge" }, "used") : null,
  ];
}

function renderAccounts(view) {
  $("pin-left").textContent = view.validForSeconds;
  $("count-accounts").textContent = `(${view.accounts.length})`;
  const key = JSON.stringify(view.accounts);
  if (key === state.accountsShown) return;
  state.accountsShown = key;
  const body = $("accounts").tBodies[0];
  body.replaceChildren(
    ...view.accounts.map((a) =>
      el(
        "tr",
        { "data-email": a.email },
        el("td", {}, a.email, a.pending ? el("span", { class: "badge" }, "invited") : null),
        el("td", {}, a.role),
        el("td", {}, a.twoFactor ? "on" : "off"),
        el("td", { class: "pin" }, pinCell(a)),
        el("td", { class: "pin" }, a.nextPin ? el("output", { "aria-label": `${a.email}: next pin` }, a.nextPin) : "–"),
        el("td", {}, sessionList(a.sessions)),
        el("td", {}, a.createdAt),
        el("td", {}, accountActions(a)),
      ),
    ),
  );
  $("accounts-empty").hidden = view.accounts.length > 0;
}

// ---- outbox ----
function renderOutbox(emails) {
  $("count-outbox").textContent = `(${emails.length})`;
  const key = JSON.stringify(emails);
  if (key === state.outboxShown) return;
  state.outboxShown = key;
  const items = emails
    .slice()
    .reverse()
    .map((mail) =>
      el(
        "li",
        { class: "mail", value: mail.seq },
        el("div", {}, el("strong", {}, mail.subject), ` to ${mail.to}`, el("span", { class: "muted" }, ` · ${mail.sentAt}`)),
        el(
          "ul",
          { class: "links" },
          mail.links
            .filter((link) => /^https?:\/\//.test(link))
            .map((link) => el("li", {}, el("a", { href: link, target: "_blank", rel: "noopener noreferrer" }, link))),
        ),
        el("details", {}, el("summary", {}, "Text"), el("pre", {}, mail.text)),
      ),
    );
  $("outbox").replaceChildren(...items);
  $("outbox-empty").hidden = emails.length > 0;
}

// ---- journal ----
function procedureOf(request) {
  if (request.calls.length) return request.calls.map((c) => c.procedure).join(", ");
  return request.path;
}

/** The status, with each call's when a batch's differ: "207 (200, 401)". */
function statusOf(request) {
  if (request.network === "closed-by-fault") return "closed";
  const calls = request.calls.map((c) => c.status);
  const mixed = calls.length > 1 && calls.some((s) => s !== request.status);
  return mixed ? `${request.status} (${calls.join(", ")})` : String(request.status);
}

function matches(request) {
  const wanted = $("filter-procedure").value.trim();
  if (wanted && !procedureOf(request).includes(wanted)) return false;
  const status = $("filter-status").value;
  if (status === "error") return request.hasError;
  if (status) return [request.status, ...request.calls.map((c) => c.status)].some((s) => String(s).startsWith(status));
  return true;
}

/** A shell word: single-quoted, with quotes inside closed and reopened. */
function shellQuote(text) {
  return `'${text.replace(/'/g, "'\\''")}'`;
}

/** The request as a curl command against this mock. */
function asCurl(request) {
  const target = request.query ? `${request.path}?${request.query}` : request.path;
  const skipped = new Set(["host", "content-length", "connection", "accept-encoding"]);
  const parts = ["curl", "-i", "-X", request.method, shellQuote(`${location.origin}${target}`)];
  for (const [name, value] of request.headers) {
    if (!skipped.has(name)) parts.push("-H", shellQuote(`${name}: ${value}`));
  }
  if (request.body) parts.push("--data-raw", shellQuote(request.body));
  return parts.join(" ");
}

async function copyCurl(request) {
  const command = asCurl(request);
  try {
    await navigator.clipboard.writeText(command);
    say(`Copied request #${request.seq} as curl`);
  } catch {
    // No clipboard (an insecure origin, or refused): show it to copy by hand.
    $("curl-text").hidden = false;
    $("curl-text").value = command;
    $("curl-text").select();
    say("Select and copy the curl command below");
  }
}

function pretty(text) {
  if (!text) return "(empty)";
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

function headerList(headers) {
  return el("dl", { class: "headers" }, headers.flatMap(([name, value]) => [el("dt", {}, name), el("dd", {}, value)]));
}

function renderExchange() {
  const request = state.journal.find((r) => r.seq === state.selectedSeq);
  const pane = $("exchange");
  if (!request) {
    pane.replaceChildren(el("p", { class: "empty" }, "Choose a request to see its exchange."));
    return;
  }
  const target = request.query ? `${request.path}?${request.query}` : request.path;
  const facts = [
    `at ${request.time} (mock clock)`,
    `${request.wallTime} (wall clock)`,
    `${request.durationMs} ms`,
    request.forced ? "forced by a fault" : null,
    request.network ? request.network.replace(/-/g, " ") : null,
  ].filter(Boolean);
  pane.replaceChildren(
    el("h2", {}, `#${request.seq} ${request.method} ${target}`),
    el("p", { class: "muted" }, facts.join(" · ")),
    el(
      "div",
      { class: "row" },
      el("button", { type: "button", id: "copy-curl", onclick: () => copyCurl(request) }, "Copy as curl"),
    ),
    el("textarea", { id: "curl-text", rows: 3, readonly: true, hidden: true, "aria-label": "curl command" }),
    request.calls.length
      ? el(
          "ol",
          { class: "calls", "aria-label": "Calls it made" },
          request.calls.map((c) =>
            el(
              "li",
              { class: c.status >= 400 ? "failed" : "" },
              el("strong", {}, c.procedure),
              ` → ${c.status}`,
              c.error ? ` ${c.error}` : "",
              c.forced ? el("span", { class: "badge" }, "forced") : null,
              el("pre", { class: "body" }, c.input === null ? "(no input)" : JSON.stringify(c.input, null, 2)),
            ),
          ),
        )
      : null,
    el("h3", {}, "Request"),
    headerList(request.headers),
    el("pre", { class: "body" }, pretty(request.body), request.bodyTruncated ? "\n… (cut at 16 KiB)" : ""),
    el("h3", {}, `Response: ${request.status}`),
    headerList(request.responseHeaders),
    el("pre", { class: "body" }, pretty(request.responseBody)),
  );
}

function renderJournal() {
  $("count-requests").textContent = `(${state.journal.length})`;
  const shown = state.journal.filter(matches).slice(-JOURNAL_ROWS).reverse();
  const rows = shown.map((r) =>
    el(
      "tr",
      {
        tabindex: 0,
        "data-seq": r.seq,
        class: `${r.hasError ? "failed" : ""} ${r.seq === state.selectedSeq ? "selected" : ""}`,
        "aria-selected": String(r.seq === state.selectedSeq),
        onclick: () => select(r.seq),
        onkeydown: (event) => {
          if (event.key === "Enter" || event.key === " ") {
            event.preventDefault();
            select(r.seq);
          }
        },
      },
      el("td", {}, r.seq),
      el("td", { title: `wall clock ${r.wallTime}` }, r.time.slice(11, 23)),
      el("td", {}, r.method),
      el("td", {}, procedureOf(r), r.forced ? el("span", { class: "badge" }, "forced") : null),
      el("td", { class: "status" }, statusOf(r)),
      el("td", { class: "ms" }, r.durationMs.toFixed(1)),
    ),
  );
  $("journal").tBodies[0].replaceChildren(...rows);
  renderExchange();
}

function select(seq) {
  state.selectedSeq = seq;
  renderJournal();
  const row = document.querySelector(`#journal tr[data-seq="${seq}"]`);
  if (row) row.focus();
}

async function pollJournal() {
  const view = await control("GET", `requests?since=${state.nextSeq ? state.nextSeq - 1 : 0}`);
  if (view.generation !== state.journalGeneration) {
    // Emptied (or first load): start again from the beginning.
    state.journalGeneration = view.generation;
    const full = view.requests[0] && view.requests[0].seq === 1 ? view : await control("GET", "requests");
    state.journal = full.requests;
    state.nextSeq = full.nextSeq;
    renderJournal();
  } else if (view.requests.length) {
    // A request in flight holds nextSeq back: later ones may come again.
    const known = new Set(state.journal.map((r) => r.seq));
    const newer = view.requests.filter((r) => !known.has(r.seq));
    state.journal = state.journal.concat(newer).sort((a, b) => a.seq - b.seq).slice(-view.capacity);
    state.nextSeq = view.nextSeq;
    if (newer.length) renderJournal();
  } else {
    state.nextSeq = view.nextSeq;
  }
  $("journal-facts").textContent = view.dropped ? `${view.dropped} older requests dropped (capacity ${view.capacity})` : "";
}

// ---- faults ----
function renderFaults(faults) {
  $("count-faults").textContent = faults.length ? `(${faults.length})` : "";
  const key = JSON.stringify(faults);
  if (key === state.faultsShown) return;
  state.faultsShown = key;
  $("faults").tBodies[0].replaceChildren(
    ...faults.map((f) =>
      el(
        "tr",
        {},
        el("td", {}, f.procedure),
        el("td", {}, f.error || "–"),
        el("td", {}, f.message || "–"),
        el("td", {}, f.delayMs ? `${f.delayMs} ms` : "–"),
        el("td", {}, f.network || "–"),
        el("td", {}, f.input ? JSON.stringify(f.input) : "any"),
        el("td", {}, f.times),
      ),
    ),
  );
  $("faults-empty").hidden = faults.length > 0;
}

function setUpFaults() {
  $("fault-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const fault = {
      procedure: $("fault-procedure").value,
      times: $("fault-always").checked ? "always" : Number($("fault-times").value || 1),
    };
    if ($("fault-error").value) fault.error = $("fault-error").value;
    if ($("fault-message").value.trim()) fault.message = $("fault-message").value.trim();
    if ($("fault-delay").value) fault.delayMs = Number($("fault-delay").value);
    if ($("fault-network").value) fault.network = $("fault-network").value;
    const input = $("fault-input").value.trim();
    if (input) {
      try {
        fault.input = JSON.parse(input);
      } catch {
        say('Fault: "Only for input" takes a JSON object, such as {"email": "x@example.com"}', true);
        return;
      }
    }
    act("Fault", async () => {
      await control("POST", "faults", fault);
      return `Fault armed on ${fault.procedure}`;
    });
  });
  $("faults-clear").addEventListener("click", () =>
    act("Faults", async () => `Cleared ${(await control("DELETE", "faults")).cleared} faults`),
  );
}

// ---- fixtures, outbox and journal buttons ----
const EXAMPLE = {
  admins: [{ email: "admin@example.com", password: "password123", twoFactorSecret: "JBSWY3DPEHPK3PXP", sessions: ["dev-session"] }],
  members: [
    { email: "member@example.com", password: "password123", invitedBy: "admin@example.com" },
    { email: "invited@example.com", invitedBy: "admin@example.com" },
  ],
};

function setUpButtons() {
  $("fixtures-form").addEventListener("submit", (event) => {
    event.preventDefault();
    let fixtures;
    try {
      fixtures = JSON.parse($("fixtures-text").value || "{}");
    } catch (error) {
      say(`Fixtures: not JSON: ${error.message}`, true);
      return;
    }
    act("Fixtures", async () => {
      const loaded = await control("POST", "fixtures", { ...fixtures, mode: $("fixtures-mode").value });
      const how = loaded.mode === "replace" ? "in place of every account" : "";
      return `Loaded ${loaded.admins} admins and ${loaded.members} members ${how}`.trim();
    });
  });
  $("fixtures-export").addEventListener("click", () =>
    act("Export", async () => {
      $("fixtures-text").value = JSON.stringify(await control("GET", "fixtures"), null, 2);
      $("fixtures-mode").value = "replace";
      return "The current state is in the box: load it with mode replace to come back to it";
    }),
  );
  $("fixtures-example").addEventListener("click", () => {
    $("fixtures-text").value = JSON.stringify(EXAMPLE, null, 2);
    $("fixtures-text").focus();
  });
  $("outbox-clear").addEventListener("click", () =>
    act("Outbox", async () => `Cleared ${(await control("DELETE", "outbox")).cleared} emails`),
  );
  $("journal-clear").addEventListener("click", () =>
    act("Journal", async () => {
      state.selectedSeq = null;
      return `Cleared ${(await control("DELETE", "requests")).cleared} requests`;
    }),
  );
  $("filter-procedure").addEventListener("input", renderJournal);
  $("filter-status").addEventListener("change", renderJournal);
  $("journal-filter").addEventListener("submit", (event) => event.preventDefault());
}

// ---- polling ----
let refreshing = null;

async function refreshOnce() {
  const [clock, outbox, faults] = await Promise.all([
    control("GET", "clock"),
    control("GET", "outbox"),
    control("GET", "faults"),
  ]);
  renderClock(clock);
  renderOutbox(outbox);
  renderFaults(faults);
  await pollJournal();
  renderAccounts(await control("GET", "accounts"));
  document.body.dataset.loaded = "true";
}

/** One refresh at a time; a call during one waits for it and runs again. */
async function refresh() {
  while (refreshing) await refreshing;
  refreshing = refreshOnce()
    .catch((error) => say(`The mock does not answer: ${error.message}`, true))
    .finally(() => {
      refreshing = null;
    });
  return refreshing;
}

async function start() {
  setUpTabs();
  setUpClock();
  setUpReset();
  setUpFaults();
  setUpButtons();
  try {
    await loadInfo();
  } catch (error) {
    say(`The mock does not answer: ${error.message}`, true);
  }
  show(location.hash.slice(1) || "accounts");
  setInterval(() => {
    if (!document.hidden) refresh();
  }, POLL_MS);
}

start();
