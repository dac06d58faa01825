#!/usr/bin/python3
"""The include graph between the project's folders: one folder per concern,
dependencies only downwards (README, Architecture):

    app -> {xmpp, http} -> control -> media -> {ice, dtls, srtp, rtp, sctp} -> common
    (config: plain data, below everything but common; dtls -> srtp)

A folder may include its own headers and those of any folder below it, never
one above or beside it. Every file is checked, app/main.cpp included. Fails
on an include that breaks the order or a cycle in the folder graph.
"""
import os
import re
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
LOW = {"common", "config", "rtp", "ice", "srtp", "dtls", "sctp"}
ALLOWED = {
    "common": set(),
    "config": {"common"},
    "rtp": {"common", "config"},
    "ice": {"common", "config"},
    "srtp": {"common"},
    "dtls": {"common", "config", "srtp"},
    "sctp": {"common"},
    "media": LOW,
    "control": LOW | {"media"},
    "http": LOW | {"media", "control"},
    "xmpp": LOW | {"media", "control"},
    "app": LOW | {"media", "control", "http", "xmpp"},
}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([a-z_]+)/[^"]+"', re.M)


def main():
    graph = {f: set() for f in ALLOWED}
    errors = []
    for folder in ALLOWED:
        base = os.path.join(ROOT, folder)
        for dirpath, _, files in os.walk(base):
            for name in files:
                if not name.endswith((".hpp", ".cpp", ".h", ".hpp.in")):
                    continue
                path = os.path.join(dirpath, name)
                rel = os.path.relpath(path, ROOT)
                with open(path, encoding="utf-8") as f:
                    for target in INCLUDE.findall(f.read()):
                        if target == folder or target not in ALLOWED:
                            continue
                        graph[folder].add(target)
                        if target not in ALLOWED[folder]:
                            errors.append(f"{rel}: includes {target}/ (allowed: {sorted(ALLOWED[folder])})")
    # Cycle check over what the code actually includes.
    state = {}

    def visit(node, stack):
        state[node] = 1
        for nxt in graph[node]:
            if state.get(nxt) == 1:
                errors.append("cycle: " + " -> ".join(stack + [node, nxt]))
            elif state.get(nxt) is None:
                visit(nxt, stack + [node])
        state[node] = 2

    for node in graph:
        if node not in state:
            visit(node, [])
    for folder in sorted(graph):
        print(f"{folder:7} -> {', '.join(sorted(graph[folder])) or '-'}")
    if errors:
        print("\n".join(errors))
        sys.exit(1)
    print("layering ok")


if __name__ == "__main__":
    main()
