#!/bin/bash
# docs/architecture.md describes the code as it is:
# - its "Directory layout" lists every C source and header of the tree,
#   and names no file that is gone;
# - every #include obeys the rules of its "include-rules" block (which
#   directories a file may include from, which headers only some files
#   may include), and no header includes itself through others.
# run-tests: no p2v programs
source "$(dirname "$0")/functions.sh"
requires awk tsort

doc=$top_srcdir/docs/architecture.md
cd "$top_srcdir"
errors=0
bad () { echo "FAIL: $*" >&2; errors=$((errors + 1)); }

# The tree's sources: those of the programs, the library and the tests'
# helpers (not the build directories, which hold generated files).
mapfile -t sources < <(find common p2v-agent p2v-receiver p2v-batch fixup \
                         tests -name '*.[ch]' | sort)
(( ${#sources[@]} > 50 )) || fail "found only ${#sources[@]} sources"

# "Directory layout": the fenced block after that heading.  A line at
# column 0 starting "DIR/" opens a directory; an indented line's first
# word names a file there (NAME.[ch] stands for both, a * is a glob, a
# trailing / a subdirectory).
mapfile -t entries < <(awk '
  /^## Directory layout/ { inside = 1; next }
  inside && /^```/ { if (++fence == 2) exit; next }
  inside && fence == 1 && /^[^ ]/ { dir = $1; next }
  inside && fence == 1 && /^  [^ ]/ { print dir $1 }' "$doc")
(( ${#entries[@]} > 50 )) || fail "no directory layout found in $doc"

listed () {
  local f=$1 e
  for e in "${entries[@]}"; do
    case $e in
      *.\[ch\]) [[ $f == "${e%.\[ch\]}.c" || $f == "${e%.\[ch\]}.h" ]] ;;
      */) [[ $f == "$e"* ]] ;;
      *) [[ $f == $e ]] ;;
    esac && return 0
  done
  return 1
}
for f in "${sources[@]}"; do
  listed "$f" || bad "$f is not in $doc's directory layout"
done
for e in "${entries[@]}"; do
  case $e in
    *.\[ch\]) [[ -e ${e%.\[ch\]}.c || -e ${e%.\[ch\]}.h ]] ;;
    *) compgen -G "$e" >/dev/null ;;
  esac || bad "$doc lists $e, which does not exist"
done

# The include rules: a fenced block whose opening line is
# ```include-rules, with lines
#   FILES may include HEADERS...   (the first line whose FILES matches a
#                                   file applies to it)
#   HEADER only in FILES...        (only these, and HEADER's own .c,
#                                   may include HEADER)
# Patterns are globs on paths from the top; a <system/header> may be
# named too.
rules=$(awk '/^```include-rules/ { on = 1; next } on && /^```/ { exit }
             on && NF && !/^#/' "$doc")
[[ -n $rules ]] || fail "no include-rules block in $doc"

# An #include "x.h" means the includer's directory, then common/ (-I).
resolve () {
  local dir=$1 h=$2
  if [[ -e $dir/$h ]]; then echo "$dir/$h"
  elif [[ -e common/$h ]]; then echo "common/$h"
  else echo "$dir/$h"
  fi
}
match_any () {
  local s=$1 p; shift
  for p; do [[ $s == $p ]] && return 0; done
  return 1
}

edges=$(mktemp); on_exit "rm -f '$edges'"
nincludes=0
for f in "${sources[@]}"; do
  allowed=
  while read -r pat verb rest; do
    [[ $verb == may ]] || continue
    if [[ $f == $pat ]]; then allowed=${rest#include }; break; fi
  done <<< "$rules"
  [[ -n $allowed ]] || { bad "$f: no include rule covers it"; continue; }
  while read -r inc; do
    case $inc in
      \"*) h=$(resolve "$(dirname "$f")" "${inc//\"/}") ;;
      *) h=$inc ;;
    esac
    nincludes=$((nincludes + 1))
    if [[ $h != \<* ]]; then
      [[ -e $h ]] || { bad "$f includes $inc, which is not in the tree"; continue; }
      # shellcheck disable=SC2086
      match_any "$h" $allowed || bad "$f includes $h: not allowed by \"$f may include $allowed\""
      [[ $f == *.h ]] && echo "$h $f" >> "$edges"
    fi
    while read -r hdr verb rest; do
      [[ $verb == only ]] || continue
      # shellcheck disable=SC2086
      [[ $h == $hdr && ${f%.c} != "${h%.h}" ]] && ! match_any "$f" ${rest#in } &&
        bad "$f includes $h, which only ${rest#in } may include"
    done <<< "$rules"
  done < <(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*\([<"][^>"]*[>"]\).*/\1/p' "$f")
done
(( nincludes > 300 )) || fail "read only $nincludes #include lines"

# Headers including headers: no loop.
if ! tsort "$edges" >/dev/null 2>"$edges.err"; then
  bad "headers include each other in a loop: $(cat "$edges.err")"
fi
rm -f "$edges.err"

echo "${#sources[@]} sources, ${#entries[@]} layout entries, $nincludes includes checked"
(( errors == 0 )) || fail "$errors problems between the code and $doc"
echo ok
