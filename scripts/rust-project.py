#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Add this module's crate to the rust-project.json that the kernel's
scripts/generate_rust_analyzer.py wrote (`make rust-analyzer`).

The kernel's generator takes an out-of-tree crate root only when a
Kbuild or Makefile beside it names it; ours (rust/xprtrdma_rs.rs) is
named by the Kbuild one directory up, so it is added here, with the
dependencies and cfgs the generator gives in-tree driver crates.

    scripts/rust-project.py RUST_PROJECT_JSON CRATE_ROOT
"""
import json
import pathlib
import sys


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__.strip().splitlines()[-1].strip())
    path = pathlib.Path(sys.argv[1])
    root = pathlib.Path(sys.argv[2]).resolve()
    project = json.loads(path.read_text())
    crates = project["crates"]
    index = {c["display_name"]: i for i, c in enumerate(crates)}
    for needed in ("core", "kernel"):
        if needed not in index:
            sys.exit(f"{path}: no '{needed}' crate: not the kernel's rust-project.json")
    crates[:] = [c for c in crates if c["display_name"] != root.stem]
    crates.append({
        "display_name": root.stem,
        "root_module": str(root),
        "is_workspace_member": True,
        "is_proc_macro": False,
        "deps": [{"crate": index[d], "name": d} for d in ("core", "kernel")],
        "cfg": crates[index["kernel"]]["cfg"],
        "edition": "2021",
        "env": {"RUST_MODFILE": "This is only for rust-analyzer"},
    })
    path.write_text(json.dumps(project, sort_keys=True, indent=4) + "\n")
    print(f"{path}: {len(crates)} crates, {root.stem} from {root}")


if __name__ == "__main__":
    main()
