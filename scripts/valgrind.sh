#!/usr/bin/env bash
# Runs the seed examples (both flavours) and the given test binaries under valgrind memcheck and fails on any
# invalid access or definite leak. Usage: scripts/valgrind.sh [TEST_NAME ...]
# (default: stress_tasks stress_tasks_cancel)
# Needs valgrind (apt-get install valgrind). Debug builds: valgrind sees the real allocations and frames.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -gt 0 ]; then tests=("$@"); else tests=(stress_tasks stress_tasks_cancel); fi
cargo build --examples
for t in "${tests[@]}"; do cargo test --no-run --test "$t"; done
vg() {
  valgrind --quiet --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=99 "$@"
}
failed=0
for ex in target/debug/examples/seed_[0-9][0-9]_*; do
  case "$ex" in *.d|*-*) continue ;; esac
  for flavour in "" "--current-thread"; do
    if vg "$ex" $flavour >/dev/null 2>"/tmp/valgrind-$(basename "$ex")$flavour.log"; then
      echo "clean: $(basename "$ex") $flavour"
    else
      echo "FAILED: $(basename "$ex") $flavour (see /tmp/valgrind-$(basename "$ex")$flavour.log)"; failed=1
    fi
  done
done
for t in "${tests[@]}"; do
  bin=$(ls -t target/debug/deps/"$t"-* | grep -v '\.d$' | head -1)
  if FERRIO_STRESS_SCALE="${FERRIO_STRESS_SCALE:-0.05}" vg "$bin" --test-threads=1 >/dev/null 2>"/tmp/valgrind-$t.log"; then
    echo "clean: $t"
  else
    echo "FAILED: $t (see /tmp/valgrind-$t.log)"; failed=1
  fi
done
exit $failed
