#!/bin/sh
# The USDT probes of libaidev: present in its ELF notes, listed by bpftrace,
# and firing when bpftrace attaches (skipped, with the reason, where this
# machine cannot run bpftrace: no root, no BPF, no uprobes).
#   test_probes.sh LIBAIDEV WORKLOAD
set -u
lib=$(realpath "$1")
workload=$2
probes="submit complete alloc free file_read evict restore"
SKIP=77

notes=$(readelf -n "$lib") || { echo "readelf failed"; exit 1; }
for p in $probes; do
    echo "$notes" | grep -q "Name: $p\$" || { echo "probe aidev:$p missing from $lib"; exit 1; }
done
echo "ELF notes: all probes present"

if ! command -v bpftrace >/dev/null 2>&1; then
    echo "SKIP attaching: bpftrace is not installed"
    exit $SKIP
fi
listed=$(bpftrace -l "usdt:$lib:*" 2>/dev/null)
for p in $probes; do
    echo "$listed" | grep -q "aidev:$p\$" || { echo "bpftrace -l does not list aidev:$p"; exit 1; }
done
echo "bpftrace -l: all probes listed"

out=$(mktemp)
trap 'rm -f "$out"' EXIT
# Attach, say when attached, count, and stop after the workload ran.
bpftrace -e "
BEGIN { printf(\"attached\\n\"); }
usdt:$lib:aidev:submit { @submit = count(); }
usdt:$lib:aidev:complete { @complete = count(); }
usdt:$lib:aidev:alloc { @alloc = count(); }
usdt:$lib:aidev:file_read { @file_read = count(); }
" >"$out" 2>&1 &
bt=$!
for _ in $(seq 1 100); do
    grep -q attached "$out" && break
    kill -0 $bt 2>/dev/null || break
    sleep 0.2
done
if ! grep -q attached "$out"; then
    kill $bt 2>/dev/null
    echo "SKIP attaching: bpftrace cannot attach here:"
    sed 's/^/  /' "$out"
    exit $SKIP
fi
# The CPU backend alone: the workload must be quick, not compile kernels.
AIDEV_BACKENDS=cpu timeout 60 "$workload" >/dev/null 2>&1
sleep 1
kill -INT $bt
# bpftrace prints its maps and leaves on SIGINT; never wait on it forever.
for _ in $(seq 1 300); do
    kill -0 $bt 2>/dev/null || break
    sleep 0.2
done
kill -KILL $bt 2>/dev/null
wait $bt
cat "$out"
for m in submit complete alloc file_read; do
    grep -q "^@$m: [1-9]" "$out" || { echo "probe aidev:$m never fired"; exit 1; }
done
echo "every probe fired"
