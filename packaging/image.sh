#!/usr/bin/env bash
# make image: the server's image (packaging/Containerfile) from the binary make dist
# put in the archive, built with Debian's buildah (vfs storage, chroot isolation: no
# daemon, no privileges beyond root, nothing pulled), saved as an OCI archive in
# target/image/, then checked: its configuration (non-root user, /data volume, the
# key file from a secret, listening on 0.0.0.0:3000) with `podman image inspect`, and
# its root filesystem running the server: `podman run` where the machine allows it
# (this one does not: crun may not set RLIMIT_NOFILE), and always the image mounted
# and the binary run with chroot into it, as the image's user.
set -euo pipefail
cd "$(dirname "$0")/.."
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
export SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}"
fail() { echo "image: $*" >&2; exit 1; }
for tool in buildah podman; do
  command -v "$tool" >/dev/null || apt-get install -y --no-install-recommends "$tool" >/dev/null \
    || (apt-get update >/dev/null && apt-get install -y --no-install-recommends "$tool" >/dev/null) \
    || fail "$tool is needed: apt-get install $tool (as root)"
done
buildah() { command buildah --storage-driver vfs "$@"; }
podman() { command podman --storage-driver vfs "$@"; }

out=target/image
rm -rf "$out"
mkdir -p "$out/rootfs/usr/bin" "$out/rootfs/etc" "$out/rootfs/run/secrets" "$out/data"
tar -xzf target/dist/dokploy-auth-"$version"-*.tar.gz -C "$out" --wildcards '*/dokploy-auth'
bin=$(ls "$out"/dokploy-auth-"$version"-*/dokploy-auth)
cp "$bin" "$out/rootfs/usr/bin/dokploy-auth"
# What it links, at the paths the dynamic loader looks.
for lib in $(ldd "$bin" | awk '/=> \// { print $3 } $1 ~ /ld-linux/ { print $1 }'); do
  mkdir -p "$out/rootfs$(dirname "$lib")"
  cp -L "$lib" "$out/rootfs$lib"
done
echo 'dokploy-auth:x:65532:65532:dokploy-auth:/data:/nonexistent' > "$out/rootfs/etc/passwd"
echo 'dokploy-auth:x:65532:' > "$out/rootfs/etc/group"
find "$out/rootfs" "$out/data" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +

image="localhost/dokploy-auth:$version"
buildah bud --quiet --isolation chroot --timestamp "$SOURCE_DATE_EPOCH" \
  -t "$image" -f packaging/Containerfile "$out" >/dev/null
buildah push --quiet "$image" "oci-archive:$out/dokploy-auth-$version.oci.tar" 2>/dev/null \
  || buildah push "$image" "oci-archive:$out/dokploy-auth-$version.oci.tar" >/dev/null
ls -l "$out/dokploy-auth-$version.oci.tar"

echo "== the image's configuration"
config=$(podman image inspect "$image" | node -e '
  let text = ""; process.stdin.on("data", (d) => (text += d));
  process.stdin.on("end", () => console.log(JSON.stringify(JSON.parse(text)[0].Config)));')
echo "$config"
node -e '
  const c = JSON.parse(process.argv[1]);
  const need = (what, ok) => { if (!ok) { console.error("image: " + what); process.exit(1); } };
  need("a non-root user", c.User === "65532:65532");
  need("a /data volume", "/data" in (c.Volumes ?? {}));
  need("listening on 0.0.0.0:3000", c.Env.includes("DOKPLOY_AUTH_LISTEN=0.0.0.0:3000"));
  need("the key file from a secret", c.Env.includes("DOKPLOY_AUTH_KEY_FILE=/run/secrets/dokploy-auth-key"));
  need("the server as entry point", JSON.stringify(c.Entrypoint) === "[\"/usr/bin/dokploy-auth\"]");
' "$config"

echo "== podman run"
if said=$(timeout 60 podman run --rm "$image" --version 2>&1); then
  echo "$said"
  [[ "$said" == "dokploy-auth $version "* ]] || fail "podman run: $said"
else
  echo "podman run cannot run here ($said): the image's root is run with chroot instead"
fi

echo "== its root filesystem runs the server (chroot, as 65532)"
container=$(buildah from "$image")
root=$(buildah mount "$container")
cleanup() { buildah umount "$container" >/dev/null 2>&1 || true; buildah rm "$container" >/dev/null 2>&1 || true; }
trap cleanup EXIT
openssl rand -hex 32 > "$root/run/secrets/dokploy-auth-key" 2>/dev/null \
  || head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$root/run/secrets/dokploy-auth-key"
chown 65532:65532 "$root/run/secrets/dokploy-auth-key"
chmod 0400 "$root/run/secrets/dokploy-auth-key"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
chroot --userspec=65532:65532 "$root" /usr/bin/dokploy-auth --version
env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DOKPLOY_AUTH_LISTEN="127.0.0.1:$port" DOKPLOY_AUTH_DATA_DIR=/data/store \
  DOKPLOY_AUTH_KEY_FILE=/run/secrets/dokploy-auth-key \
  chroot --userspec=65532:65532 "$root" /usr/bin/dokploy-auth serve > "$out/server.log" 2>&1 &
server=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/ready" >/dev/null && break; sleep 0.1; done
curl -sf "http://127.0.0.1:$port/ready" || { cat "$out/server.log"; fail "the server in the image's root did not answer"; }
echo
answer=$(curl -s -H 'content-type: application/json' -d '{"email":"admin@example.com","password":"password123"}' \
  "http://127.0.0.1:$port/api/auth.createAdmin")
[ "$answer" = "true" ] || fail "createAdmin in the image's root answered $answer"
kill "$server"; wait "$server" 2>/dev/null || true
[ -n "$(ls -A "$root/data/store")" ] || fail "nothing was written under /data"
echo "== image passed"
