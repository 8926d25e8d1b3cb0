#!/usr/bin/env bash
# make dist-check: what make dist wrote, tried the way a user without Rust meets it.
# - SHA256SUMS holds, and a second packaging gives the same bytes; the archive's
#   binaries run and say their version and commit, and link nothing but the C
#   library, libgcc and libm.
# - The .deb: its files and modes, lintian without errors, every setting in
#   /etc/default/dokploy-auth, the unit verified and its exposure at most 2.0.
# - In a new directory, with no cargo on PATH: npm install of the two tarballs;
#   npx dokploy-auth-mock serves (its ready line, then /health), timed; the package's
#   JavaScript API drives a cloud sign-up, 2FA and a reset (npm-check/check.mjs);
#   npx dokploy-auth-conformance run passes against it; tsc --noEmit over a client
#   typed by dokploy-auth-mock/router; the README's Playwright fixture (Debian's
#   chromium) and Vitest globalSetup run as written there.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
dist="$repo/target/dist"
version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$repo/Cargo.toml" | head -1)
fail() { echo "dist-check: $*" >&2; exit 1; }

echo "== SHA256SUMS, and the same bytes from a second packaging"
(cd "$dist" && sha256sum --quiet -c SHA256SUMS) || fail "SHA256SUMS does not hold"
first=$(cat "$dist/SHA256SUMS")
"$repo/packaging/dist.sh" > /dev/null
[ "$first" = "$(cat "$dist/SHA256SUMS")" ] || fail "a second make dist gave other bytes"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "== the archive"
archive=$(ls "$dist"/dokploy-auth-"$version"-*.tar.gz)
tar -xzf "$archive" -C "$work"
unpacked="$work/$(basename "$archive" .tar.gz)"
for bin in dokploy-auth dokploy-auth-mock dokploy-auth-conformance; do
  said=$("$unpacked/$bin" --version)
  echo "$said"
  [[ "$said" == "$bin $version (commit "* ]] || fail "$bin --version: $said"
  [[ "$said" != *"commit unknown"* ]] || fail "$bin does not know its commit"
  extra=$(ldd "$unpacked/$bin" | grep -v -E 'linux-vdso|ld-linux|libc\.so|libm\.so|libgcc_s\.so' || true)
  [ -z "$extra" ] || fail "$bin links more than glibc, libm and libgcc: $extra"
done
for file in README.md LICENSE fixtures.example.json docs/CONTRACT.md docs/openapi.yaml; do
  [ -f "$unpacked/$file" ] || fail "the archive lacks $file"
done

echo "== the Debian package"
deb="$dist/dokploy-auth_${version}_amd64.deb"
contents=$(dpkg-deb --contents "$deb")
for entry in '-rwxr-xr-x root/root .* ./usr/bin/dokploy-auth$' \
  '-rw------- root/root .* ./etc/default/dokploy-auth$' \
  '-rw-r--r-- root/root .* ./usr/lib/systemd/system/dokploy-auth.service$'; do
  grep -qE -- "$entry" <<< "$contents" || fail "the .deb lacks $entry"
done
command -v lintian >/dev/null || apt-get install -y --no-install-recommends lintian >/dev/null \
  || (apt-get update >/dev/null && apt-get install -y --no-install-recommends lintian >/dev/null) \
  || fail "lintian is needed: apt-get install lintian (as root)"
lintian --fail-on error "$deb" || fail "lintian refuses the .deb"
root="$work/deb"
dpkg-deb -x "$deb" "$root"
"$root/usr/bin/dokploy-auth" --version
# Every setting `serve` reads from the environment has its line in /etc/default.
settings=$("$root/usr/bin/dokploy-auth" serve --help | grep -o '\[env: [A-Z0-9_]*' | cut -c7- | sort -u)
for setting in $settings; do
  grep -q "^#$setting=" "$root/etc/default/dokploy-auth" || fail "/etc/default/dokploy-auth lacks $setting"
done
# The unit as installed, but for where its binary is (verify wants it to exist).
unit="$work/dokploy-auth.service"
sed "s|^ExecStart=/usr/bin/dokploy-auth|ExecStart=$root/usr/bin/dokploy-auth|" \
  "$root/usr/lib/systemd/system/dokploy-auth.service" > "$unit"
systemd-analyze verify --man=no "$unit" || fail "systemd-analyze verify refuses the unit"
exposure=$(systemd-analyze security --offline=true "$unit" 2>&1 | sed -n 's/.*Overall exposure level for .*: \([0-9.]*\) .*/\1/p')
echo "systemd-analyze security: exposure $exposure"
awk -v e="$exposure" 'BEGIN { exit !(e != "" && e <= 2.0) }' || fail "the unit's exposure is $exposure, above 2.0"

echo "== npm, from the tarballs, without cargo"
# PATH without the directories that hold cargo or rustc.
path=""
IFS=: read -ra dirs <<< "$PATH"
for dir in "${dirs[@]}"; do
  [ -x "$dir/cargo" ] || [ -x "$dir/rustc" ] || path="${path:+$path:}$dir"
done
project="$work/project"
mkdir -p "$project"
cp "$repo"/packaging/npm-check/* "$project/"
cd "$project"
export PATH="$path"
! command -v cargo >/dev/null || fail "cargo is still on PATH"
echo '{"name": "a-frontend", "private": true, "type": "module"}' > package.json
for tarball in "$dist"/dokploy-auth-mock-*.tgz; do
  size=$(stat -c %s "$tarball")
  echo "$(basename "$tarball"): $size bytes"
done
npm install --no-audit --no-fund --loglevel=error \
  "$dist/dokploy-auth-mock-$version.tgz" "$dist"/dokploy-auth-mock-linux-*-"$version".tgz
npm install --no-audit --no-fund --loglevel=error --save-dev \
  typescript@5.9.3 @types/node@22 @trpc/client@10.45.2 @trpc/server@10.45.2 superjson@2.2.5

# npx dokploy-auth-mock: from the command to the first answer.
started=$(date +%s%N)
# In a process group of its own, ended as a whole below: npx runs the command through
# a shell that does not pass a SIGTERM on, and the mock outlived the check.
setsid npx --no-install dokploy-auth-mock --listen 127.0.0.1:0 > ready.txt 2> mock.log &
mock=$!
for _ in $(seq 1 200); do [ -s ready.txt ] && break; sleep 0.01; done
url=$(node -p "JSON.parse(require('fs').readFileSync('ready.txt', 'utf8').split('\n')[0]).url") \
  || fail "no ready line from npx dokploy-auth-mock: $(cat mock.log)"
until curl -sf "$url/health" >/dev/null; do sleep 0.01; done
answered=$(date +%s%N)
echo "npx dokploy-auth-mock: first answer $(( (answered - started) / 1000000 )) ms after the command, at $url"

echo "== the JavaScript API"
node check.mjs | tee check.out
grep -q '"ok":true' check.out || fail "the JavaScript API check failed"

echo "== npx dokploy-auth-conformance run --target $url"
npx --no-install dokploy-auth-conformance run --target "$url" > conformance.out 2>&1 \
  || { tail -40 conformance.out; fail "the conformance suite failed against the mock"; }
tail -3 conformance.out
kill -TERM -- -"$mock"; wait "$mock" 2>/dev/null || true
for _ in $(seq 1 200); do curl -sf "$url/health" >/dev/null || break; sleep 0.01; done
! curl -sf "$url/health" >/dev/null || fail "the mock still answers after npx was stopped"

echo "== tsc --noEmit with dokploy-auth-mock/router"
npx --no-install tsc -p . || fail "the AppRouter type does not check as installed"

echo "== the README's Playwright fixture and Vitest globalSetup, as written there"
node -e '
  const fs = require("fs");
  const readme = fs.readFileSync(process.argv[1], "utf8");
  for (const file of ["fixtures.ts", "vitest.global-setup.ts"]) {
    const code = fs.readFileSync(file, "utf8").replace(/^\/\/.*\n/, "");
    if (!readme.includes(code)) { console.error(`the README does not show ${file} as it runs`); process.exit(1); }
  }
' "$repo/npm/dokploy-auth-mock/README.md" || fail "the README's examples differ from what runs"
npm install --no-audit --no-fund --loglevel=error --save-dev @playwright/test@1.64.1 vitest@5.1.2
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}" npx --no-install playwright test || fail "the Playwright example failed"
NO_COLOR=1 npx --no-install vitest run || fail "the Vitest example failed"

echo "== unknown platform: a clear error"
said=$(node --input-type=module -e "
  Object.defineProperty(process, 'arch', { value: 'nowhere' });
  const { binaryPath } = await import('./node_modules/dokploy-auth-mock/lib/binary.js');
  try { binaryPath('dokploy-auth-mock'); } catch (error) { console.log(error.message); }
")
[[ "$said" == *"no prebuilt binary for this platform"*"Build it from source"* ]] || fail "the error for another platform: $said"
echo "$said"
echo "== dist-check passed"
