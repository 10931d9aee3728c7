# infra/deps.sh: sourced by infra/up and infra/test; installs the Debian packages cleave needs.
# usage: cleave_require_packages PACKAGE...   (installs what is missing when root, else explains)

# iproute2: ip(8), with which tests/integration/multihost_test makes its network namespaces;
# libpq-dev: the PostgreSQL store's client library (store/postgres.c)
CLEAVE_BUILD_PACKAGES="gcc make cmake pkg-config libssl-dev libh2o-evloop-dev libnng-dev
  libprotobuf-c-dev protobuf-c-compiler libyaml-dev libjansson-dev libsqlite3-dev libpq-dev check
  libcurl4-openssl-dev iproute2"

# What the PostgreSQL suites (unit/store_postgres_test, postgres/*, integration/postgres*_test)
# run: a real server of Debian's packages (initdb, postgres under /usr/lib/postgresql/N/bin),
# started by the tests themselves. infra/test installs it when root; otherwise, where it is
# missing, those suites skip and say so. nghttp2-client: nghttp, with which
# integration/request_id_test reads many HTTP/2 answers of one connection field by field.
CLEAVE_TEST_PACKAGES="postgresql nghttp2-client"

# What tests/fuzz/run needs (infra/test's "fuzz (short)" step): clang, its libFuzzer runtime
# (libclang_rt.fuzzer-x86_64.a: libclang-rt-14-dev on Debian 12, which clang only recommends)
# and llvm-symbolizer (llvm) for stack traces with lines.
CLEAVE_FUZZ_PACKAGES="clang libclang-rt-dev llvm"

# What the container images' runtime stage holds besides Debian's minbase: the shared libraries
# edge and svc-* link (ldd), by their Debian 12 package names; their own dependencies follow.
CLEAVE_RUNTIME_PACKAGES="libnng1 libprotobuf-c1 libh2o-evloop0.13 libyaml-0-2 libsqlite3-0
  libpq5 libjansson4 libssl3"

# What infra/images/build and tests/containers/run (infra/test's "containers" step) need:
# podman with runc (crun fails on hybrid cgroups), podman-compose, and debootstrap for the
# base images (base images are made from Debian's packages, not pulled). Packages are installed
# without their recommendations, so podman's network stack is named too: netavark with
# aardvark-dns (compose's containers find each other by name) and iptables (published ports).
CLEAVE_CONTAINER_PACKAGES="podman podman-compose runc debootstrap netavark aardvark-dns iptables
  catatonit"

# What tests/renders/validate.mjs (run by integration/render_test) and tests/openapi/check.mjs
# (run by integration/openapi_test) need to install and run their npm tools (the renders'
# validators; the OpenAPI linter, client generator and tsc): Node.js and npm. infra/test installs
# them only where the node or npm command is missing, since a Node.js from elsewhere
# (NodeSource's nodejs bundles npm) conflicts with Debian's npm.
CLEAVE_NODE_PACKAGES="nodejs npm"

# cleave_missing_packages PACKAGE...: prints those not installed, space-separated.
cleave_missing_packages() {
  local missing=() pkg
  for pkg in "$@"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
      missing+=("$pkg")
    fi
  done
  echo "${missing[*]}"
}

cleave_require_packages() {
  local missing=()
  read -r -a missing <<<"$(cleave_missing_packages "$@")"
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "cleave: missing Debian packages: ${missing[*]}" >&2
    echo "cleave: install them with:" >&2
    echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  echo "cleave: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}
