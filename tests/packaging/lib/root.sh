# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
# shellcheck shell=bash
# Debian roots for the packaging tests and packaging/build-deb --release,
# sourced (bash).  A root is a cached minbase tarball of a suite
# (tests/packaging/debootstrap-cache SUITE) plus a cached LAYER: the same root
# after an apt-get install, kept as a tarball per (suite, name, key) under
#   ${HT_TESTBED_CACHE:-/var/cache/hypertrace-testbed}/debootstrap/SUITE-NAME-KEY.tar
# and every apt run binds the machine-wide .deb cache
#   .../debootstrap/apt-archives
# so a warm run downloads nothing.
#
# Commands run in the root through ht_in_root, each in its own mount
# namespace: /proc, /sys, /dev and the .deb cache are mounted there and vanish
# with the command, even when it is killed (a test's timeout).  Nothing is
# ever mounted in the caller's namespace, so removing a root can never reach
# through a leftover bind into the host's /dev or the cache.
#
#   ht_root_layer SUITE NAME KEY FN   print the layer's tarball, building it
#                                     first if missing: FN ROOT runs in a fresh
#                                     root of the suite's base (ht_apt ROOT ...),
#                                     its output in TAR.log; FN returns non-zero
#                                     on failure (no set -e there)
#   ht_root_unpack TAR ROOT           a fresh ROOT (removed first) from TAR
#   ht_root_remove ROOT               rm -rf ROOT (refuses if anything is mounted in it)
#   ht_in_root ROOT CMD...            CMD in ROOT (chroot, clean environment)
#   ht_apt ROOT ARGS...               apt-get -y ARGS in ROOT (keeps the .debs)

HT_PKG_SRC=${HT_PKG_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)}
HT_ROOT_CACHE=${HT_TESTBED_CACHE:-/var/cache/hypertrace-testbed}/debootstrap

# Variables passed into the root besides PATH, HOME, LANG, DEBIAN_FRONTEND.
HT_ROOT_ENV=()

ht_in_root() {
    local root=$1
    shift
    mkdir -p "$HT_ROOT_CACHE/apt-archives/partial"
    unshare --mount --propagation private -- /bin/bash -c '
        set -e
        r=$1 a=$2
        shift 2
        mount -t proc proc "$r/proc"
        mount --rbind /sys "$r/sys"
        mount --rbind /dev "$r/dev"
        mkdir -p "$r/var/cache/apt/archives"
        mount --bind "$a" "$r/var/cache/apt/archives"
        exec chroot "$r" "$@"' ht-root "$root" "$HT_ROOT_CACHE/apt-archives" \
        env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
        DEBIAN_FRONTEND=noninteractive "${HT_ROOT_ENV[@]}" "$@"
}

# apt-get in ROOT.  apt holds a lock in the .deb cache while it downloads and
# fails at once if another root's apt holds it: wait for ours instead.
ht_apt() {
    local root=$1 fd rc=0
    shift
    mkdir -p "$HT_ROOT_CACHE/apt-archives"
    exec {fd}>"$HT_ROOT_CACHE/apt-archives/.ht-lock"
    flock -w 1800 "$fd" || { echo "root.sh: timed out waiting for the .deb cache's lock" >&2; return 1; }
    ht_in_root "$root" apt-get -q -y -o Dpkg::Use-Pty=0 -o APT::Keep-Downloaded-Packages=true "$@" || rc=$?
    exec {fd}>&-
    return $rc
}

ht_root_remove() {
    local root=$1
    [ -n "$root" ] && [ "$root" != / ] || return 0
    [ -e "$root" ] || return 0
    root=$(cd "$root" && pwd -P)
    # Mounts under ROOT can only be left by something else (ht_in_root's die
    # with their namespace); never recurse into them.
    if awk -v r="$root" '$5 == r || index($5, r "/") == 1 { found = 1 } END { exit !found }' \
            /proc/self/mountinfo; then
        echo "root.sh: something is mounted under $root; not removing it:" >&2
        awk -v r="$root" '$5 == r || index($5, r "/") == 1 { print "    " $5 }' /proc/self/mountinfo >&2
        return 1
    fi
    rm -rf --one-file-system "$root"
}

ht_root_unpack() {
    local tar=$1 root=$2
    ht_root_remove "$root" || return 1
    mkdir -p "$root"
    tar -C "$root" -xf "$tar"
}

ht_root_layer() {
    local suite=$1 name=$2 key=$3 fn=$4 base tar tmp rc=0
    base=$("$HT_PKG_SRC/tests/packaging/debootstrap-cache" "$suite") || return 1
    tar=$HT_ROOT_CACHE/$suite-$name-$key.tar
    exec {lockfd}>"$HT_ROOT_CACHE/.layer-lock-$suite"
    flock -w 3600 "$lockfd" || { echo "root.sh: timed out waiting for $HT_ROOT_CACHE/.layer-lock-$suite" >&2; return 1; }
    # Layers unused for 30 days (e.g. of kernel ABIs gone from the archive) go.
    find "$HT_ROOT_CACHE" -maxdepth 1 \( -name "$suite-*-*.tar" ! -name "$suite-minbase.tar" \
        -o -name "$suite-*.tar.log" \) -mtime +30 -delete 2>/dev/null || true
    if [ -s "$tar" ] && [ "$tar" -nt "$base" ]; then
        touch "$tar"
        exec {lockfd}>&-
        echo "$tar"
        return 0
    fi
    tmp=$(mktemp -d "$HT_ROOT_CACHE/layer.XXXXXX")
    echo "root.sh: building the $suite root layer '$name' (cached as ${tar##*/})" >&2
    local t0=$SECONDS
    # (No apt-get clean: the root's archives are the machine-wide cache.)
    if ht_root_unpack "$base" "$tmp/root" && "$fn" "$tmp/root" > "$tmp/log" 2>&1; then
        tar -C "$tmp/root" -cf "$tmp/layer.tar" . && mv "$tmp/layer.tar" "$tar" || rc=1
    else
        rc=1
        tail -n 30 "$tmp/log" | sed 's/^/    | /' >&2
    fi
    cp -f "$tmp/log" "$tar.log" 2>/dev/null || true
    ht_root_remove "$tmp/root" && rm -rf "$tmp"
    exec {lockfd}>&-
    [ $rc = 0 ] || { echo "root.sh: building the $suite layer '$name' failed (log: $tar.log)" >&2; return 1; }
    echo "root.sh: built ${tar##*/} in $((SECONDS - t0)) s" >&2
    echo "$tar"
}
