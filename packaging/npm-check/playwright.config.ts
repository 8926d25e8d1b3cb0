import { defineConfig } from '@playwright/test';

// Debian's chromium, not a downloaded browser.
export default defineConfig({
  testDir: '.',
  testMatch: /.*\.spec\.ts$/,
  // One mock per worker (the fixture starts each on a port of its own).
  workers: 4,
  fullyParallel: true,
  reporter: 'list',
  use: {
    launchOptions: {
      executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
      args: ['--no-sandbox', '--disable-gpu'],
    },
  },
});
