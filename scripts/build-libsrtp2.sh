#!/usr/bin/env bash
# Builds libsrtp2 from Debian 12's own source package against OpenSSL, as a
# static library, into the given prefix (inside the build tree).
#
# Why: Debian's binary libsrtp2 is built with NSS and protects an audio packet
# 5-11x slower than the same 2.5.0 source built with --enable-openssl
# (shared/docs/limits.md). Use -DJVB_SYSTEM_SRTP=ON to link Debian's binary.
#
# Usage: build-libsrtp2.sh <prefix>   -> <prefix>/lib/libsrtp2.a, <prefix>/include/srtp2/*.h
set -euo pipefail
prefix=$(realpath -m "$1")
if [ -f "$prefix/lib/libsrtp2.a" ] && [ -f "$prefix/include/srtp2/srtp.h" ]; then
  exit 0
fi
work="$prefix/src"
rm -rf "$work"
mkdir -p "$work"
cd "$work"
# apt-get source needs a deb-src entry (scripts/install-deps.sh adds one) and
# runs dpkg-source, which is in dpkg-dev.
apt-get source -q libsrtp2 >apt-source.log 2>&1 || {
  cat apt-source.log >&2
  echo "build-libsrtp2: 'apt-get source libsrtp2' failed: run scripts/install-deps.sh first" >&2
  exit 1
}
srcdir=$(find "$work" -maxdepth 1 -type d -name 'libsrtp2-*' | head -n 1)
cd "$srcdir"
./configure --enable-openssl --disable-shared --prefix="$prefix" CFLAGS="-O2 -fPIC" >configure.log 2>&1 || {
  tail -n 40 configure.log >&2
  exit 1
}
make -j"$(nproc)" libsrtp2.a >make.log 2>&1 || {
  tail -n 40 make.log >&2
  exit 1
}
make install-nopkgconfig >install.log 2>&1 || make install >install.log 2>&1
test -f "$prefix/lib/libsrtp2.a"
grep -q '^#define OPENSSL 1' crypto/include/config.h || { echo 'build-libsrtp2: OpenSSL backend not enabled' >&2; exit 1; }
echo "build-libsrtp2: built $prefix/lib/libsrtp2.a with OpenSSL"
