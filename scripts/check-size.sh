#!/usr/bin/env bash
# Fails (exit 1, listing each offender) when a .cpp/.hpp file under injector/ or safety/ is over
# 800 lines or holds a function over 120 lines: the developer guide's size rule, checked so that
# it does not rest on reviewers counting.
#
# Functions are found by a heuristic brace scan, not a C++ parser. Comments, string, raw-string
# and character literals and preprocessor lines are blanked first; then a `{` at namespace or
# class level whose preceding declaration has a `(` and no top-level `=` opens a function body
# (free functions, member functions defined in a class, constructors with initializer lists,
# operators). A function's length runs from the first line of its declaration (template line
# included) to its closing brace. What it cannot see: lambdas, local classes and their member
# functions (anything inside a function body is counted as part of that function, never on its
# own); a lambda or initializer assigned at namespace level (`auto f = [] { ... };`); bodies
# produced by macros; code under a disabled #if branch is scanned as if enabled.
set -euo pipefail
cd "$(dirname "$0")/.."
exec python3 - "$@" <<'PY'
import pathlib
import re
import sys

MAX_FILE_LINES = 800
MAX_FUNCTION_LINES = 120
ROOTS = ["injector", "safety"]


def blank(text):
    """The text with comments, literals and preprocessor lines replaced by spaces (newlines kept)."""
    out = []
    i, n = 0, len(text)
    line_start = True
    while i < n:
        c = text[i]
        if line_start and c in " \t":
            out.append(c)
            i += 1
            continue
        if line_start and c == "#":  # a preprocessor line, with its continuations
            while i < n and text[i] != "\n":
                if text[i] == "\\" and i + 1 < n and text[i + 1] == "\n":
                    out.append(" \n")
                    i += 2
                    continue
                out.append(" ")
                i += 1
            continue
        line_start = c == "\n"
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c == '"' or c == "'":
            before = text[max(0, i - 40):i]
            m = re.search(r"(?:\bu8|\b[uUL])?R$", before)
            if c == '"' and m:  # raw string: R"delim( ... )delim"
                k = text.find("(", i)
                delim = text[i + 1:k]
                j = text.find(")" + delim + '"', k)
                j = n if j < 0 else j + len(delim) + 2
            elif c == "'" and re.search(r"\b[0-9][0-9a-fA-FxXbB']*$", before):
                out.append(" ")  # a digit separator, as in 1'000
                i += 1
                continue
            else:
                j = i + 1
                while j < n and text[j] != c and text[j] != "\n":
                    j += 2 if text[j] == "\\" else 1
                if j >= n or text[j] == "\n":  # unterminated: blank to the end of the line only
                    out.append(" " * (j - i))
                    i = j
                    continue
                j += 1
            out.append(c + re.sub(r"[^\n]", " ", text[i + 1:j - 1]) + c if j - i >= 2 else text[i:j])
            i = j
        else:
            out.append(c)
            i += 1
    return "".join(out)


def top_level_equals(head):
    """Whether the declaration has an `=` outside brackets (an initializer, not a function)."""
    head = re.sub(r"\boperator\s*[^\s(]+", "operator", head)
    depth = 0
    for k, ch in enumerate(head):
        if ch in "([<":
            depth += 1
        elif ch in ")]>":
            depth = max(0, depth - 1)
        elif ch == "=" and depth == 0 and head[k + 1:k + 2] != "=" and head[k - 1:k] not in "=!<>":
            return True
    return False


def scope_kind(head):
    """What a `{` opens at namespace or class level: namespace, class, function or other."""
    h = re.sub(r"\s+", " ", head).strip()
    if re.search(r'\bnamespace\b|\bextern ""$', h):
        return "namespace"
    if "(" in h and not top_level_equals(h):
        if not re.match(r"(template ?<.*?> ?)?(class|struct|union|enum)\b[^(]*$", h):
            return "function"
    if re.search(r"\b(class|struct|union|enum)\b", h) and not top_level_equals(h):
        return "class"
    return "other"


def functions(path):
    """(name, first line, length) of each function body that starts at namespace or class level."""
    text = blank(path.read_text(errors="replace"))
    found = []
    stack = []  # kinds of the open braces
    head_start = None  # offset where the current declaration began
    line = 1
    starts = {}
    for i, c in enumerate(text):
        if c == "\n":
            line += 1
            continue
        inside_body = any(k in ("function", "other") for k in stack)
        if inside_body:
            if c == "{":
                stack.append("other" if stack[-1] == "other" else "inner")
            elif c == "}":
                kind = stack.pop()
                if kind == "function":
                    name, first = starts.pop(len(stack))
                    found.append((name, first, line - first + 1))
            continue
        if c in ";}":
            if c == "}" and stack:
                stack.pop()
            head_start = None
            continue
        if c == ":" and head_start is not None:
            # `public:` and friends end a declaration head in a class.
            if re.search(r"\b(public|private|protected)\s*$", text[head_start:i]):
                head_start = None
                continue
        if c == "{":
            head = text[head_start:i] if head_start is not None else ""
            kind = scope_kind(head)
            stack.append(kind)
            if kind == "function":
                first = line - head.count("\n")
                m = re.search(r"([~\w:]+(?:\s*operator\s*[^\s(]+)?)\s*\(", head)
                starts[len(stack) - 1] = (m.group(1) if m else "?", first)
            head_start = None
            continue
        if head_start is None and not c.isspace():
            head_start = i
    return found


def main():
    bad = []
    files = sorted(p for root in ROOTS for p in pathlib.Path(root).rglob("*")
                   if p.suffix in (".cpp", ".hpp") and p.is_file())
    for p in files:
        lines = p.read_text(errors="replace").count("\n")
        if lines > MAX_FILE_LINES:
            bad.append(f"{p}: {lines} lines (over {MAX_FILE_LINES})")
        for name, first, length in functions(p):
            if length > MAX_FUNCTION_LINES:
                bad.append(f"{p}:{first}: function {name} is {length} lines (over {MAX_FUNCTION_LINES})")
    for b in bad:
        print("check-size: " + b)
    if bad:
        return 1
    print(f"check-size: {len(files)} files under {' and '.join(ROOTS)}: none over {MAX_FILE_LINES} lines, "
          f"no function over {MAX_FUNCTION_LINES}")
    return 0


sys.exit(main())
PY
