#!/bin/sh
# install-test.sh: kcl built the way its users build against it. Installs the
# build into a temporary directory (meson install --destdir), checks that
# every public header of include/ is installed, then compiles
# tests/install/consumer.c (C11) and samples/embed.cpp (C++17) against the
# INSTALLED header and library through pkg-config, twice:
#   shared: pkg-config --cflags --libs kcl, run with LD_LIBRARY_PATH (embed,
#           an OpenCL application itself: pkg-config ... kcl OpenCL);
#   static: libkcl.a by its full path plus pkg-config --static --libs kcl, so
#           a dependency missing from kcl.pc's Requires.private or
#           Libs.private fails the link;
# and runs all four programs.
# usage: install-test.sh BUILD_DIR SOURCE_DIR   (tests/meson.build passes both,
# and KCL_TEST_CC / KCL_TEST_CXX: the build's compilers; no C++: C only).
# Exits 77 (meson: skipped) when meson or pkg-config cannot be found.
set -eu
build=$1
src=$2
cc=${KCL_TEST_CC:-cc}
cxx=${KCL_TEST_CXX:-}

fail() {
    echo "install-test: $*" >&2
    exit 1
}
for tool in meson pkg-config; do
    command -v "$tool" > /dev/null || { echo "install-test: no $tool: skipped"; exit 77; }
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/kcl-install-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
root=$tmp/root
# --no-rebuild: meson test has built everything, and another ninja run would
# race with the tests running beside this one.
meson install -C "$build" --no-rebuild --quiet --destdir "$root" > "$tmp/install.log" 2>&1 ||
    { cat "$tmp/install.log" >&2; fail "meson install failed"; }

# kcl.pc names the configured prefix (/usr/local ...); point it into the
# destdir, as a staged package would be used. Everything else in it is as
# installed.
pc=$(find "$root" -name kcl.pc)
[ -n "$pc" ] || fail "kcl.pc was not installed"
prefix=$(sed -n 's/^prefix=//p' "$pc")
sed "s|^prefix=.*|prefix=$root$prefix|" "$pc" > "$tmp/kcl.pc"
PKG_CONFIG_PATH=$tmp
export PKG_CONFIG_PATH
libdir=$(pkg-config --variable=libdir kcl)
includedir=$(pkg-config --variable=includedir kcl)

for header in "$src"/include/*.h; do
    name=$(basename "$header")
    [ -f "$includedir/$name" ] ||
        fail "include/$name is not installed: list it in public_headers (meson.build)"
done
for file in libkcl.a libkcl.so; do
    [ -f "$libdir/$file" ] || fail "$file is not installed in $libdir"
done

echo "kcl.pc: Requires.private: $(pkg-config --print-requires-private kcl | tr '\n' ' ')"
echo "static link: $(pkg-config --static --libs kcl)"

cflags=$(pkg-config --cflags kcl)
shared_libs=$(pkg-config --libs kcl)
# The static line without -lkcl: libkcl.a stands for it, by its full path, so
# that nothing can pick up libkcl.so instead.
static_libs=
for flag in $(pkg-config --static --libs kcl); do
    [ "$flag" = -lkcl ] || static_libs="$static_libs $flag"
done

# compile NAME COMPILER FLAGS SOURCE [PACKAGES]: one program shared, one
# static. PACKAGES: what the program uses itself besides kcl (pkg-config names).
compile() {
    own_cflags=
    own_libs=
    if [ -n "${5:-}" ]; then
        # shellcheck disable=SC2086
        pkg-config --exists $5 || fail "$1: pkg-config cannot find $5"
        # shellcheck disable=SC2086
        own_cflags=$(pkg-config --cflags $5)
        # shellcheck disable=SC2086
        own_libs=$(pkg-config --libs $5)
    fi
    # shellcheck disable=SC2086   # the flags are lists of words
    $2 $3 $cflags $own_cflags "$4" -o "$tmp/$1" $shared_libs $own_libs ||
        fail "$1: compiling against the installed kcl (shared) failed"
    # shellcheck disable=SC2086
    $2 $3 $cflags $own_cflags "$4" -o "$tmp/$1-static" "$libdir/libkcl.a" $static_libs $own_libs ||
        fail "$1: linking libkcl.a with pkg-config --static --libs kcl failed: is a dependency missing from kcl.pc?"
    if command -v readelf > /dev/null; then
        readelf -d "$tmp/$1-static" | grep -q 'NEEDED.*libkcl' &&
            fail "$1-static depends on libkcl.so"
    fi
    return 0
}

# run PROGRAM: with only the installed library on the loader's path, and a
# private kernel cache.
run() {
    echo "--- $1"
    LD_LIBRARY_PATH=$libdir KCL_CACHE_DIR=$tmp/cache "$tmp/$1" || fail "$1 failed"
}

compile consumer "$cc" "-std=c11 -Wall -Wextra -Werror" "$src/tests/install/consumer.c"
programs="consumer consumer-static"
if [ -n "$cxx" ]; then
    compile embed "$cxx" "-std=c++17 -Wall -Wextra -Wpedantic -Werror" "$src/samples/embed.cpp" \
        "OpenCL"
    programs="$programs embed embed-static"
else
    echo "no C++ compiler: samples/embed.cpp not built"
fi
if command -v ldd > /dev/null; then
    LD_LIBRARY_PATH=$libdir ldd "$tmp/consumer" | grep -q "$libdir/libkcl.so" ||
        fail "consumer does not load the installed libkcl.so"
fi
for program in $programs; do
    run "$program"
done
echo "installed kcl: $programs built and passed"
