// The Vite dev server the README shows: the page and the API on one origin, so
// the session cookie is first-party. Vite forwards /api (both transports) and
// the mock's control plane to the mock; MOCK_URL overrides the mock's address.
const mock = process.env.MOCK_URL ?? "http://127.0.0.1:4000";

export default {
  root: new URL("./frontend", import.meta.url).pathname,
  server: {
    proxy: {
      "/api": mock,
      "/__mock": mock,
    },
  },
};
