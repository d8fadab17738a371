#!/usr/bin/env bash
# Builds the libFuzzer targets with Debian's clang (-fsanitize=fuzzer,address,undefined) and
# runs each for a bounded time. The project itself builds with g++, so the few sources the
# decoders need are compiled here directly.
#   tests/fuzz/run.sh [OUT_DIR] [SECONDS_PER_TARGET]
# Seeds live in tests/fuzz/corpus/<target>/ (read-only here); inputs libFuzzer discovers go
# to OUT_DIR/corpus/<target>/, crashes to OUT_DIR/artifacts/. Exit 77 (skipped) without clang.
set -euo pipefail
src="$(cd "$(dirname "$0")/../.." && pwd)"
out="${1:-/tmp/ordo-fuzz}"
secs="${2:-20}"
cxx="${ORDO_FUZZ_CXX:-}"
if [[ -z "$cxx" ]]; then
  for c in clang++-14 clang++; do command -v "$c" >/dev/null && { cxx="$c"; break; }; done
fi
if [[ -z "$cxx" ]]; then
  echo "fuzz: no clang++ (apt-get install clang-14 libfuzzer-14-dev libclang-rt-14-dev); skipped" >&2
  exit 77
fi

common=(engine/domain/types.cpp engine/domain/names.cpp engine/log/json.cpp)
declare -A sources=(
  [command_decoders]="tests/fuzz/fuzz_command_decoders.cpp api/command_codec.cpp api/money_codec.cpp api/webhook_signature.cpp"
  [event_decoder]="tests/fuzz/fuzz_event_decoder.cpp engine/log/envelope.cpp engine/log/event_codec.cpp engine/log/canonical_object.cpp engine/log/canonical_text.cpp"
  [bearer_tokens]="tests/fuzz/fuzz_bearer_tokens.cpp api/jwt.cpp api/base64url.cpp"
)
flags=(-std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
       -I"$src" -DFMT_HEADER_ONLY)
# fmt header-only: Debian's libfmt is built by g++ and one of its templates is mangled
# differently by clang, so linking against it fails.
libs=(-lsimdjson -lcrypto)

mkdir -p "$out/artifacts" "$out/obj"
targets=(command_decoders event_decoder bearer_tokens)
# Rebuild only when a source or header changed (headers: anything under the dirs used).
stale=0
for target in "${targets[@]}"; do
  bin="$out/fuzz_$target"
  if [[ ! -x "$bin" ]] || [[ -n "$(find "$src/api" "$src/engine/domain" "$src/engine/log" "$src/tests/fuzz" \
        -maxdepth 1 -newer "$bin" -name '*.[ch]pp' -print -quit)" ]]; then
    stale=1
  fi
done
if ((stale)); then
  # Each source once (the common ones serve every target), as many at a time as there are
  # cores: the instrumented -O1 compile is most of this suite's time.
  unique=()
  for target in "${targets[@]}"; do
    for f in ${sources[$target]} "${common[@]}"; do
      [[ " ${unique[*]} " == *" $f "* ]] || unique+=("$f")
    done
  done
  echo "fuzz: compiling ${#unique[@]} sources" >&2
  # Objects mirror the source tree under obj/, so two sources cannot share an object name.
  export cxx src out
  printf '%s\0' "${unique[@]}" |
    xargs -0 -P "$(nproc 2>/dev/null || echo 2)" -n 1 bash -c \
      'f="${!#}"; set -- "${@:1:$#-1}"  # xargs puts the source last, after the flags
       mkdir -p "$out/obj/$(dirname "$f")" && nice "$cxx" "$@" -c "$src/$f" -o "$out/obj/$f.o"' \
      _ "${flags[@]}"
  for target in "${targets[@]}"; do
    objs=()
    for f in ${sources[$target]} "${common[@]}"; do objs+=("$out/obj/$f.o"); done
    echo "fuzz: linking $out/fuzz_$target" >&2
    nice "$cxx" "${flags[@]}" "${objs[@]}" "${libs[@]}" -o "$out/fuzz_$target"
  done
fi
# The targets run at the same time (each fuzzes on one core, three on this two-core machine
# share them), each into a log of its own that is printed when it ends; the suite fails if
# any found a crash.
# libFuzzer exits 77 on a crash by default, which CTest would read as "skipped": 1 instead.
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; exit 143' INT TERM
for target in "${targets[@]}"; do
  bin="$out/fuzz_$target"
  mkdir -p "$out/corpus/$target"
  echo "fuzz: running $target for ${secs}s" >&2
  # -rss_limit_mb bounds memory; -timeout flags an input that hangs a decoder.
  "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -error_exitcode=1 -timeout_exitcode=1 \
    -artifact_prefix="$out/artifacts/$target-" "$out/corpus/$target" "$src/tests/fuzz/corpus/$target" \
    >"$out/$target.log" 2>&1 &
  pids+=($!)
done
failed=0
for i in "${!targets[@]}"; do
  rc=0
  wait "${pids[$i]}" || rc=$?
  cat "$out/${targets[$i]}.log" >&2
  if ((rc != 0)); then
    echo "fuzz: ${targets[$i]} failed (exit $rc)" >&2
    failed=1
  fi
done
exit "$failed"
