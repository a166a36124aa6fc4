#!/usr/bin/env bash
# embed_bounce_rules.sh IN OUT — writes OUT, a C++ source that defines
# ringpost::delivery::internal::kDefaultBounceRules as the text of IN
# (dist/bounce_rules.conf) in one raw string literal, so the rules built
# into the relay are that file byte for byte: one source, no copy to keep
# in step. Run by the genrule //relay/delivery:bounce_rules_default and by
# tools/fuzz.
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 IN OUT" >&2; exit 2; }
in="$1"
out="$2"
# The literal is R"bounce_rules(...)bounce_rules": the file must not hold
# its closing sequence, nor a NUL (which would end the text early).
delim='bounce_rules'
if grep -qF ")${delim}\"" "$in"; then
  echo "$in: contains )${delim}\" which would end the embedded string" >&2
  exit 1
fi
if [ "$(tr -d '\000' < "$in" | wc -c)" -ne "$(wc -c < "$in")" ]; then
  echo "$in: contains a NUL octet" >&2
  exit 1
fi
{
  echo "// Generated from $in by relay/delivery/embed_bounce_rules.sh: do not edit."
  echo '#include <string_view>'
  echo 'namespace ringpost::delivery::internal {'
  echo 'extern const std::string_view kDefaultBounceRules;'
  printf 'const std::string_view kDefaultBounceRules = R"%s(' "$delim"
  cat "$in"
  printf ')%s";\n' "$delim"
  echo '}  // namespace ringpost::delivery::internal'
} > "$out"
