// The README's Playwright fixture, as it is there: one mock per worker, reset per test.
import { test as base } from '@playwright/test';
import { startMock, type Mock } from 'dokploy-auth-mock';

export const test = base.extend<{ mock: Mock }, { workerMock: Mock }>({
  workerMock: [async ({}, use) => {
    const mock = await startMock({ mode: 'cloud' });
    await use(mock);
    await mock.stop();
  }, { scope: 'worker' }],
  mock: async ({ workerMock }, use) => {
    await workerMock.reset();
    await use(workerMock);
  },
});
