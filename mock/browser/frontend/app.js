// A small frontend as a developer would write one against the mock: it calls the
// API with fetch and credentials, and it handles the link of a confirmation email
// (/confirm-email?token=…) the way Dokploy's own page does.

/** Calls a procedure on the REST transport at `base` ("" = this origin, through
 * the dev server's proxy); resolves to {status, body, headers}. */
export async function call(base, name, input, { method = "POST", bearer } = {}) {
  const headers = {};
  const init = { method, credentials: "include", headers };
  if (method === "POST") {
    headers["content-type"] = "application/json";
    init.body = JSON.stringify(input ?? {});
  }
  if (bearer) headers.authorization = `Bearer ${bearer}`;
  const query = method === "GET" && input ? `?input=${encodeURIComponent(JSON.stringify(input))}` : "";
  const response = await fetch(`${base}/api/${name}${query}`, init);
  const text = await response.text();
  let body = text;
  try {
    body = JSON.parse(text);
  } catch {}
  return { status: response.status, body, headers: Object.fromEntries(response.headers) };
}

/** Any other request (the control plane, say), from this page. */
export async function request(url, init = {}) {
  const response = await fetch(url, init);
  return { status: response.status, body: await response.text(), headers: Object.fromEntries(response.headers) };
}

window.frontend = { call, request };

async function route() {
  const outcome = document.getElementById("outcome");
  const params = new URLSearchParams(location.search);
  if (location.pathname === "/confirm-email") {
    const answer = await call("", "auth.confirmEmail", { confirmationToken: params.get("token") ?? "" });
    outcome.textContent =
      answer.status === 200 ? "Email confirmed" : `Not confirmed: ${answer.body.message ?? answer.status}`;
  } else {
    outcome.textContent = "Ready";
  }
}

route();
