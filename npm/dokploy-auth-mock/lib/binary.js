// Finds the mock's (or the suite's) binary in the platform package npm installed
// beside this one, as esbuild and Biome do: no postinstall download.
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);

/** The platform packages, by `<os>-<cpu>[-<libc>]`. Only these are built. */
export const PLATFORM_PACKAGES = {
  'linux-x64-gnu': 'dokploy-auth-mock-linux-x64-gnu',
};

/** This machine as a key of `PLATFORM_PACKAGES`. */
export function platformKey() {
  if (process.platform !== 'linux') return `${process.platform}-${process.arch}`;
  const glibc = process.report?.getReport?.()?.header?.glibcVersionRuntime;
  return `linux-${process.arch}-${glibc ? 'gnu' : 'musl'}`;
}

const FROM_SOURCE =
  'Build it from source (Rust 1.88+): `cargo build --release -p mock -p conformance` in a clone of the ' +
  'repository, then point DOKPLOY_AUTH_MOCK_BINARY_DIR at its target/release.';

/** The path of `name` (`dokploy-auth-mock` or `dokploy-auth-conformance`). */
export function binaryPath(name) {
  const file = process.platform === 'win32' ? `${name}.exe` : name;
  const override = process.env.DOKPLOY_AUTH_MOCK_BINARY_DIR;
  if (override) return join(override, file);
  const key = platformKey();
  const pkg = PLATFORM_PACKAGES[key];
  if (!pkg) {
    throw new Error(
      `dokploy-auth-mock has no prebuilt binary for this platform (${key}); ` +
        `it has them for ${Object.keys(PLATFORM_PACKAGES).join(', ')}. ${FROM_SOURCE}`,
    );
  }
  let dir;
  try {
    dir = dirname(require.resolve(`${pkg}/package.json`));
  } catch {
    throw new Error(
      `dokploy-auth-mock: ${pkg}, its binaries for this platform (${key}), is not installed. ` +
        'It is an optional dependency: install without --no-optional / --omit=optional, ' +
        `or install ${pkg} next to dokploy-auth-mock. ${FROM_SOURCE}`,
    );
  }
  return join(dir, 'bin', file);
}

/** Runs `name` with this process's arguments and standard streams; exits as it does. */
export function runBinary(name) {
  let path;
  try {
    path = binaryPath(name);
  } catch (error) {
    console.error(error.message);
    process.exit(1);
  }
  const child = spawn(path, process.argv.slice(2), { stdio: 'inherit' });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(signal, () => child.kill(signal));
  }
  child.on('error', (error) => {
    console.error(`${name}: cannot start ${path}: ${error.message}`);
    process.exit(1);
  });
  child.on('exit', (code, signal) => {
    if (signal) process.kill(process.pid, signal);
    else process.exit(code ?? 1);
  });
}
