#!/usr/bin/env bash
# make dist: everything a release ships, in target/dist/:
#   dokploy-auth-<version>-<target>.tar.gz   the three binaries, README, LICENSE, docs, example fixtures
#   dokploy-auth-mock-<version>.tgz           the npm package (launcher, JavaScript API, AppRouter type)
#   dokploy-auth-mock-<platform>-<version>.tgz  its platform package (the binaries)
#   dokploy-auth_<version>_amd64.deb          the server, its hardened systemd unit, /etc/default/dokploy-auth
#   SHA256SUMS                                over everything in the folder
# Built --locked; every date inside is SOURCE_DATE_EPOCH (the commit's time), owners
# and modes are fixed, so the same binaries always give the same bytes.
set -euo pipefail
cd "$(dirname "$0")/.."

version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
target=$(rustc -vV | sed -n 's/^host: //p')
commit=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
if [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then commit="$commit-modified"; fi
export SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}"
export DOKPLOY_AUTH_COMMIT="$commit"

# The platform package this machine builds, by Rust target.
case "$target" in
  x86_64-unknown-linux-gnu) platform=linux-x64-gnu ;;
  *) echo "make dist builds $target, which has no npm platform package here; see .github/workflows/release.yml" >&2; exit 1 ;;
esac

for package in npm/dokploy-auth-mock npm/dokploy-auth-mock-$platform; do
  package_version=$(node -p "require('./$package/package.json').version")
  if [ "$package_version" != "$version" ]; then
    echo "$package/package.json says $package_version, the workspace $version" >&2
    exit 1
  fi
done

echo "== cargo build --release --locked (commit $commit)"
cargo build --release --locked \
  -p server --bin dokploy-auth \
  -p mock --bin dokploy-auth-mock \
  -p conformance --bin dokploy-auth-conformance

dist=target/dist
stage=target/dist-stage
rm -rf "$dist" "$stage"
mkdir -p "$dist" "$stage"

# Files as a release has them: fixed modes and times.
put() { # put <mode> <source> <destination>
  mkdir -p "$(dirname "$3")"
  cp "$2" "$3"
  chmod "$1" "$3"
  touch -d "@$SOURCE_DATE_EPOCH" "$3"
}
binaries="dokploy-auth dokploy-auth-mock dokploy-auth-conformance"

echo "== the archive"
name="dokploy-auth-$version-$target"
root="$stage/$name"
for bin in $binaries; do
  put 0755 "target/release/$bin" "$root/$bin"
  strip "$root/$bin"
  touch -d "@$SOURCE_DATE_EPOCH" "$root/$bin"
done
put 0644 README.md "$root/README.md"
put 0644 LICENSE "$root/LICENSE"
put 0644 mock/fixtures.example.json "$root/fixtures.example.json"
put 0644 specs/CONTRACT.md "$root/docs/CONTRACT.md"
put 0644 specs/openapi.yaml "$root/docs/openapi.yaml"
put 0644 mock/openapi.yaml "$root/docs/mock-control-plane.yaml"
for doc in docs/*.md docs/dokploy-auth.toml; do put 0644 "$doc" "$root/$doc"; done
find "$root" -type d -exec chmod 0755 {} + -exec touch -d "@$SOURCE_DATE_EPOCH" {} +
tar --sort=name --mtime="@$SOURCE_DATE_EPOCH" --owner=0 --group=0 --numeric-owner \
  --format=gnu -C "$stage" -cf - "$name" | gzip -9n > "$dist/$name.tar.gz"

echo "== the npm packages"
main="$stage/npm/dokploy-auth-mock"
mkdir -p "$main"
cp -r npm/dokploy-auth-mock/. "$main/"
put 0644 specs/typescript/router.d.ts "$main/router.d.ts"
put 0644 LICENSE "$main/LICENSE"
plat="$stage/npm/dokploy-auth-mock-$platform"
mkdir -p "$plat/bin"
cp npm/dokploy-auth-mock-$platform/package.json "$plat/"
put 0644 LICENSE "$plat/LICENSE"
for bin in dokploy-auth-mock dokploy-auth-conformance; do
  put 0755 "$root/$bin" "$plat/bin/$bin"
done
for package in "$main" "$plat"; do
  (cd "$package" && npm pack --silent --pack-destination "$OLDPWD/$dist" >/dev/null)
done

echo "== the Debian package"
deb="$stage/deb"
doc="$deb/usr/share/doc/dokploy-auth"
put 0755 "$root/dokploy-auth" "$deb/usr/bin/dokploy-auth"
put 0644 packaging/deb/dokploy-auth.service "$deb/usr/lib/systemd/system/dokploy-auth.service"
put 0600 packaging/deb/default "$deb/etc/default/dokploy-auth"
put 0644 packaging/deb/copyright "$doc/copyright"
put 0644 README.md "$doc/README.md"
put 0644 docs/dokploy-auth.toml "$doc/examples/dokploy-auth.toml"
for guide in docs/*.md; do put 0644 "$guide" "$doc/$guide"; done
put 0644 packaging/deb/lintian-overrides "$deb/usr/share/lintian/overrides/dokploy-auth"
mkdir -p "$deb/usr/share/man/man1"
gzip -9n < packaging/deb/dokploy-auth.1 > "$deb/usr/share/man/man1/dokploy-auth.1.gz"
chmod 0644 "$deb/usr/share/man/man1/dokploy-auth.1.gz"
sed -e "s/@VERSION@/$version/g" -e "s/@COMMIT@/$commit/g" \
  -e "s/@DATE@/$(date -u -R -d "@$SOURCE_DATE_EPOCH")/" packaging/deb/changelog \
  | gzip -9n > "$doc/changelog.gz"
chmod 0644 "$doc/changelog.gz"
mkdir -p "$deb/DEBIAN"
size=$(du -sk --apparent-size "$deb" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@SIZE@/$size/" packaging/deb/control > "$deb/DEBIAN/control"
for script in postinst prerm postrm; do put 0755 "packaging/deb/$script" "$deb/DEBIAN/$script"; done
put 0644 packaging/deb/conffiles "$deb/DEBIAN/conffiles"
(cd "$deb" && find . -type f ! -path './DEBIAN/*' -printf '%P\n' | LC_ALL=C sort | xargs md5sum) > "$deb/DEBIAN/md5sums"
chmod 0644 "$deb/DEBIAN/control" "$deb/DEBIAN/md5sums"
find "$deb" -type d -exec chmod 0755 {} + -exec touch -d "@$SOURCE_DATE_EPOCH" {} +
find "$deb" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
dpkg-deb --root-owner-group -Zxz --build "$deb" "$dist/dokploy-auth_${version}_amd64.deb" >/dev/null

(cd "$dist" && sha256sum -- * | grep -v ' SHA256SUMS$' > SHA256SUMS)
rm -rf "$stage"
echo "== $dist"
ls -l "$dist"
