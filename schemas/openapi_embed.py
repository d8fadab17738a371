#!/usr/bin/env python3
"""Turns schemas/openapi.yaml (the one source) into a C++ file that serves it as JSON.

usage: openapi_embed.py IN.yaml OUT.cpp
Fails (non-zero) when the YAML does not parse or is not an OpenAPI 3.1 document, so a
broken document breaks the build rather than the endpoint.
"""
import json
import sys

import yaml  # Debian: python3-yaml


def main() -> int:
    src, out = sys.argv[1], sys.argv[2]
    with open(src, encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    if not isinstance(doc, dict) or not str(doc.get("openapi", "")).startswith("3.1"):
        print(f"{src}: not an OpenAPI 3.1 document", file=sys.stderr)
        return 1
    text = json.dumps(doc, separators=(",", ":"), ensure_ascii=True, sort_keys=True)
    # A raw string literal cannot hold its own delimiter; pick one the text does not contain.
    delim = "oapi"
    while f"){delim}\"" in text:
        delim += "x"
    # Long literals are split: compilers cap the length of one string literal.
    chunks = [text[i:i + 8000] for i in range(0, len(text), 8000)]
    body = "\n".join(f'  R"{delim}({c}){delim}"' for c in chunks)
    with open(out, "w", encoding="utf-8") as f:
        f.write("// Generated from schemas/openapi.yaml by schemas/openapi_embed.py. Do not edit.\n")
        f.write('#include "api/openapi.hpp"\n\nnamespace ordo::api {\n\n')
        f.write("std::string_view openapi_json() noexcept {\n  static constexpr char kDoc[] =\n")
        f.write(body + ";\n  return {kDoc, sizeof kDoc - 1};\n}\n\n}  // namespace ordo::api\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
