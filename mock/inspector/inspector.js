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
        el("td", { class: "pin" }, a.pin ? el("output", { "aria-label": `pin of ${a.email}` }, a.pin) : "–"),
        el("td", {}, sessionList(a.sessions)),
        el("td", {}, a.createdAt),
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
        { class: "mail" },
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
  const path = request.path;
  if (path.startsWith("/api/trpc/")) return decodeURIComponent(path.slice("/api/trpc/".length));
  if (path.startsWith("/api/")) return path.slice("/api/".length);
  return path;
}

function matches(request) {
  const wanted = $("filter-procedure").value.trim();
  if (wanted && !procedureOf(request).includes(wanted)) return false;
  const status = $("filter-status").value;
  if (status === "error") return request.status >= 400;
  if (status) return String(request.status).startsWith(status);
  return true;
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
  pane.replaceChildren(
    el("h2", {}, `#${request.seq} ${request.method} ${target}`),
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
        class: `${r.status >= 400 ? "failed" : ""} ${r.seq === state.selectedSeq ? "selected" : ""}`,
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
      el("td", {}, r.method),
      el("td", {}, procedureOf(r)),
      el("td", { class: "status" }, r.status),
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
    const newer = view.requests.filter((r) => r.seq >= state.nextSeq);
    state.journal = state.journal.concat(newer).slice(-view.capacity);
    state.nextSeq = view.nextSeq;
    renderJournal();
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
        el("td", {}, f.times),
      ),
    ),
  );
  $("faults-empty").hidden = faults.length > 0;
}

function setUpFaults() {
  $("fault-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const fault = { procedure: $("fault-procedure").value, times: Number($("fault-times").value || 1) };
    if ($("fault-error").value) fault.error = $("fault-error").value;
    if ($("fault-message").value.trim()) fault.message = $("fault-message").value.trim();
    if ($("fault-delay").value) fault.delayMs = Number($("fault-delay").value);
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
    act("Fixtures", async () => {
      const loaded = await control("POST", "fixtures", $("fixtures-text").value || "{}");
      return `Loaded ${loaded.admins} admins and ${loaded.members} members`;
    });
  });
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
