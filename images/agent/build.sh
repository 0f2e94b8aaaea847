#!/usr/bin/env bash
# Builds the static `agent` binary into images/agent/agent (the Docker build
# context of images/agent/Dockerfile) and prints its path.
#
# Static by musl (x86_64-unknown-linux-musl), so DNS through getaddrinfo reads
# /etc/resolv.conf with no NSS modules: right for a FROM scratch image. If the
# musl target cannot be installed, falls back to glibc with +crt-static
# (AGENT_TARGET=gnu forces it); then tcp/http-get/wait-tcp name lookups go
# through glibc's static getaddrinfo, which works for DNS but cannot load NSS
# modules (the `dns` subcommand is unaffected: it uses hickory-resolver).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
target_dir="${CARGO_TARGET_DIR:-$root/target}"

# Release settings for this binary only (profiles live in the root Cargo.toml,
# which this script leaves alone): fat LTO, one codegen unit, stripped.
export CARGO_PROFILE_RELEASE_LTO=true
export CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1
export CARGO_PROFILE_RELEASE_STRIP=true

musl=x86_64-unknown-linux-musl
gnu=x86_64-unknown-linux-gnu
if [[ "${AGENT_TARGET:-musl}" == musl ]] &&
   { rustup target list --installed 2>/dev/null | grep -x "$musl" >/dev/null || rustup target add "$musl" >&2; }; then
  target=$musl
  nice -n 10 cargo build --release --locked --manifest-path "$root/crates/agent/Cargo.toml" \
    --target "$target" --bin agent >&2
else
  target=$gnu
  RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static" \
    nice -n 10 cargo build --release --locked --manifest-path "$root/crates/agent/Cargo.toml" \
    --target "$target" --bin agent >&2
fi
install -m 0755 "$target_dir/$target/release/agent" "$here/agent"
echo "$here/agent"
