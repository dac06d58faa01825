#!/usr/bin/python3
"""The include graph between the project's folders: one folder per concern,
dependencies only in the documented direction (README, Architecture):

    common <- config <- {rtp, ice, srtp <- dtls} <- bridge <- {http, xmpp} <- bridge/main.cpp
    common <- sctp <- {bridge, xmpp}

Fails when a library folder includes a header of a folder it may not use, or
when the folder graph has a cycle. bridge/main.cpp is the executable and may
include every library.
"""
import os
import re
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
ALLOWED = {
    "common": set(),
    "config": {"common"},
    "rtp": {"common", "config"},
    "ice": {"common", "config"},
    "srtp": {"common"},
    "dtls": {"common", "config", "srtp"},
    "sctp": {"common"},
    "bridge": {"common", "config", "rtp", "ice", "srtp", "dtls", "sctp"},
    "http": {"common", "config"},
    "xmpp": {"common", "config", "rtp", "ice", "srtp", "dtls", "sctp", "bridge"},
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
                if rel == os.path.join("bridge", "main.cpp"):
                    continue
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
