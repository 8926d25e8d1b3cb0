// The README's Vitest globalSetup, as it is there: one mock for the run.
import { startMock } from 'dokploy-auth-mock';

export default async function setup({ provide }) {
  const mock = await startMock();
  provide('mockUrl', mock.url);
  return () => mock.stop();
}
