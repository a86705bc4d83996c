#!/usr/bin/env bash
# Build the reference REST gateway (gateway/build/bin/drive-gateway) offline from Debian bookworm
# packages: Go 1.19, protoc, protoc-gen-go, protoc-gen-go-grpc and grpc-gateway v1.6.4.
#
#   bash gateway/build.sh            # install what is missing, generate, build (no-op when current)
#   bash gateway/build.sh --force    # rebuild even when the stamp says the binary is current
#
# Exit status: 0 built (or already current); 3 Go or the packages cannot be installed (callers
# such as the REST tests skip on 3); anything else is a real build failure.
#
# Everything it writes goes under gateway/build/ (git-ignored): the generated Go code (from
# protos/, never committed), a private GOPATH entry and the binary; plus Go's own build cache.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(dirname "$HERE")"
BUILD="$HERE/build"
BIN="$BUILD/bin/drive-gateway"
STAMP="$BUILD/stamp"
CANNOT_INSTALL=3

# What apt must provide. The grpc-gateway *runtime* (golang-github-grpc-ecosystem-grpc-gateway-dev)
# is not in the list: it depends on the old golang-goprotobuf-dev, which conflicts with
# golang-github-golang-protobuf-1-5-dev, so it is unpacked with dpkg -x into a private GOPATH entry.
PACKAGES=(
  golang-go protobuf-compiler libprotobuf-dev protoc-gen-go protoc-gen-go-grpc golang-grpc-gateway
  golang-google-grpc-dev golang-google-genproto-dev golang-github-golang-protobuf-1-5-dev
  golang-google-protobuf-dev golang-golang-x-net-dev golang-glog-dev golang-github-ghodss-yaml-dev
)
RUNTIME_PACKAGE=golang-github-grpc-ecosystem-grpc-gateway-dev

say() { echo "gateway: $*" >&2; }

inputs_digest() {
  # Everything the binary is made from: the contract, the Go sources and this script.
  (cd "$REPO" && find protos gateway -path gateway/build -prune -o -type f \
    \( -name '*.proto' -o -name '*.go' -o -name 'build.sh' \) -print | LC_ALL=C sort | xargs sha256sum) |
    sha256sum | cut -d' ' -f1
}

missing_packages() {
  local package
  for package in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}\n' "$package" 2>/dev/null | grep -q 'install ok installed' || echo "$package"
  done
}

install_packages() {
  local missing
  missing="$(missing_packages)"
  [ -z "$missing" ] && return 0
  say "installing $(echo "$missing" | tr '\n' ' ')"
  if ! command -v apt-get >/dev/null; then
    say "apt-get is not available; cannot install Go"
    exit $CANNOT_INSTALL
  fi
  local sudo=()
  [ "$(id -u)" -ne 0 ] && sudo=(sudo -n)
  # shellcheck disable=SC2086
  if ! { "${sudo[@]}" apt-get update -q >/dev/null &&
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends $missing >/dev/null; }; then
    say "apt-get could not install the Go packages"
    exit $CANNOT_INSTALL
  fi
}

unpack_runtime() {
  # The runtime sources, unpacked once into build/deb (a GOPATH entry: usr/share/gocode).
  local root="$BUILD/deb"
  [ -d "$root/usr/share/gocode/src/github.com/grpc-ecosystem/grpc-gateway/runtime" ] && return 0
  say "unpacking $RUNTIME_PACKAGE"
  rm -rf "$root" "$BUILD/download"
  mkdir -p "$root" "$BUILD/download"
  # apt-get download needs the package lists; refresh them once if they are missing or stale.
  if ! (cd "$BUILD/download" && apt-get download -q "$RUNTIME_PACKAGE" >/dev/null 2>&1); then
    apt-get update -q >/dev/null 2>&1 || true
    (cd "$BUILD/download" && apt-get download -q "$RUNTIME_PACKAGE" >/dev/null 2>&1) || {
      say "could not download $RUNTIME_PACKAGE"
      exit $CANNOT_INSTALL
    }
  fi
  dpkg -x "$BUILD"/download/*.deb "$root"
  rm -rf "$BUILD/download"
}

generate() {
  # Go code from protos/: messages (protoc-gen-go) and clients (protoc-gen-go-grpc) from the real
  # files; HTTP handlers (protoc-gen-grpc-gateway v1.6.4) from a copy without proto3 `optional`,
  # which that generator refuses. The handlers only name the message types, so the copy is enough.
  local gen="$BUILD/gopath/src/drivegw/gen"
  local plain="$BUILD/protos-plain"
  local package="drivegw/gen/drive_v1"
  rm -rf "$BUILD/gopath/src/drivegw" "$plain"
  mkdir -p "$gen" "$plain"
  cp -r "$REPO/protos/." "$plain/"
  find "$plain/drive" -name '*.proto' -exec sed -i -E 's/^([[:space:]]*)optional[[:space:]]+/\1/' {} +

  local files=() maps=() file
  while IFS= read -r file; do
    files+=("$file")
    maps+=("M$file=$package")
  done < <(cd "$REPO/protos" && find drive -name '*.proto' | LC_ALL=C sort)
  local joined
  joined="$(IFS=,; echo "${maps[*]}")"

  protoc -I "$REPO/protos" -I /usr/include \
    --go_out="$BUILD/gopath/src" --go_opt="$joined" \
    --go-grpc_out="$BUILD/gopath/src" --go-grpc_opt="$joined" \
    "${files[@]}"
  protoc -I "$plain" -I /usr/include \
    --grpc-gateway_out="logtostderr=true,$joined:$BUILD/gopath/src" \
    "${files[@]}"
}

compile() {
  mkdir -p "$BUILD/bin"
  (
    cd "$HERE"
    # Go's usual build cache (~/.cache/go-build) is kept: it is content-addressed, so clones share
    # the compiled grpc/protobuf packages and a fresh clone builds in seconds.
    export GO111MODULE=off GOFLAGS=
    export GOPATH="$BUILD/gopath:$BUILD/deb/usr/share/gocode:/usr/share/gocode"
    go build -trimpath -o "$BIN.tmp" .
  )
  mv "$BIN.tmp" "$BIN"
}

main() {
  if [ "${1:-}" != "--force" ] && [ -x "$BIN" ] && [ -f "$STAMP" ] &&
    [ -z "$(missing_packages)" ] && [ "$(cat "$STAMP")" = "$(inputs_digest)" ]; then
    say "up to date: $BIN"
    return 0
  fi
  install_packages
  unpack_runtime
  local started=$SECONDS
  generate
  compile
  inputs_digest >"$STAMP"
  say "built $BIN in $((SECONDS - started)) s"
}

main "$@"
