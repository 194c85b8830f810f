#!/usr/bin/env python3
"""Render deploy/kubernetes/helm/kestrel the way `helm template` would, for the subset of the
template language the chart uses: {{ .Values.a.b }}, .Release.Name/Namespace, .Chart.*,
string literals, the functions quote, toYaml, nindent N and indent N in pipelines,
{{ if X }} ... {{ end }}, and {{- / -}} whitespace trimming.

helm itself is not installable on this machine (no Debian package; no registry ships it), so
the tests render with this instead. Anything outside the subset is an error, never a guess:
a template that needs more must be rendered with real helm.

usage: render_chart.py CHART_DIR [--set key.path=value ...] > rendered.yaml
"""
import re
import sys
from pathlib import Path

import yaml

ACTION = re.compile(r"\{\{(-?)(.*?)(-?)\}\}", re.S)


class Unsupported(Exception):
    pass


def lookup(ctx, path):
    cur = ctx
    for part in path.split(".")[1:]:
        if not isinstance(cur, dict) or part not in cur:
            return None
        cur = cur[part]
    return cur


def to_yaml(v):
    if v is None:
        return "null"
    return yaml.safe_dump(v, default_flow_style=False, sort_keys=True).rstrip("\n")


def as_text(v):
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def operand(word, ctx):
    if word.startswith("."):
        if not re.fullmatch(r"(\.[A-Za-z_][A-Za-z0-9_]*)+", word):
            raise Unsupported(f"value reference {word!r}")
        return lookup(ctx, word)
    if len(word) >= 2 and word.startswith('"') and word.endswith('"'):
        return word[1:-1]
    raise Unsupported(f"expression {word!r}")


def evaluate(expr, ctx):
    stages = [s.strip() for s in expr.split("|")]
    words = stages[0].split()
    if len(words) == 1:
        value = operand(words[0], ctx)
        rest = stages[1:]
    else:
        # `f ARGS X` is `X | f ARGS`.
        value = operand(words[-1], ctx)
        rest = [" ".join(words[:-1])] + stages[1:]
    for stage in rest:
        words = stage.split()
        if words == ["quote"]:
            value = '"' + as_text(value).replace("\\", "\\\\").replace('"', '\\"') + '"'
        elif words == ["toYaml"]:
            value = to_yaml(value)
        elif len(words) == 2 and words[0] in ("nindent", "indent") and words[1].isdigit():
            pad = " " * int(words[1])
            body = "\n".join(pad + line for line in as_text(value).split("\n"))
            value = ("\n" if words[0] == "nindent" else "") + body
        else:
            raise Unsupported(f"function {stage!r}")
    return value


def truthy(v):
    return not (v is None or v is False or v == 0 or v == "" or v == [] or v == {})


def render(text, ctx):
    # Split into text and actions, then apply the trim markers to the neighbouring text.
    parts = []
    pos = 0
    for m in ACTION.finditer(text):
        parts.append(["text", text[pos:m.start()]])
        parts.append(["action", m.group(2).strip(), m.group(1) == "-", m.group(3) == "-"])
        pos = m.end()
    parts.append(["text", text[pos:]])
    for i, p in enumerate(parts):
        if p[0] != "action":
            continue
        if p[2]:
            parts[i - 1][1] = parts[i - 1][1].rstrip()
        if p[3]:
            parts[i + 1][1] = parts[i + 1][1].lstrip()
    out = []
    emitting = [True]
    for p in parts:
        if p[0] == "text":
            if all(emitting):
                out.append(p[1])
            continue
        action = p[1]
        if action.startswith("if "):
            emitting.append(truthy(evaluate(action[3:], ctx)) if all(emitting) else False)
        elif action == "end":
            if len(emitting) == 1:
                raise Unsupported("end without if")
            emitting.pop()
        elif action.startswith("/*"):
            continue
        else:
            if all(emitting):
                out.append(as_text(evaluate(action, ctx)))
    if len(emitting) != 1:
        raise Unsupported("if without end")
    return "".join(out)


def set_value(values, assignment):
    key, _, raw = assignment.partition("=")
    parsed = yaml.safe_load(raw)
    cur = values
    parts = key.split(".")
    for part in parts[:-1]:
        cur = cur.setdefault(part, {})
    cur[parts[-1]] = parsed


def main(argv):
    chart = Path(argv[1])
    values = yaml.safe_load((chart / "values.yaml").read_text())
    args = argv[2:]
    while args:
        if args[0] == "--set" and len(args) > 1:
            set_value(values, args[1])
            args = args[2:]
        else:
            raise SystemExit(f"unknown argument {args[0]!r}")
    meta = yaml.safe_load((chart / "Chart.yaml").read_text())
    ctx = {
        "Values": values,
        "Release": {"Name": "kestrel", "Namespace": "kestrel"},
        "Chart": {"Name": meta["name"], "Version": meta["version"], "AppVersion": meta["appVersion"]},
    }
    docs = []
    for tpl in sorted((chart / "templates").glob("*.yaml")):
        try:
            rendered = render(tpl.read_text(), ctx)
        except Unsupported as e:
            raise SystemExit(f"{tpl}: outside the renderer's subset: {e}")
        if rendered.strip():
            docs.append(f"# Source: {meta['name']}/templates/{tpl.name}\n{rendered.strip()}\n")
    sys.stdout.write("---\n".join(docs))


if __name__ == "__main__":
    main(sys.argv)
