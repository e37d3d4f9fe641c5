"""``budgetnas supernet list|register|pack|records``: trained supernets by name.

Example:
    budgetnas supernet list
    budgetnas supernet register mine runs/sn/supernet.pt
    budgetnas supernet register theirs https://example.org/sn.pt --sha256 HEX
    budgetnas supernet pack runs/sn/supernet.pt --out sn-packed.pt

The work is in :mod:`budgetnas.hub`.
"""

from __future__ import annotations

import json

__all__ = ["register", "run_list", "run_pack", "run_records", "run_register"]


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "supernet", help="trained supernets by name: list, register, pack, ship records"
    )
    sub = parser.add_subparsers(dest="supernet_action", metavar="ACTION", required=True)

    ls = sub.add_parser("list", help="the registered supernets (the project's and yours)")
    ls.add_argument("--json", action="store_true", help="print the entries as JSON")
    ls.set_defaults(func=run_list)

    r = sub.add_parser(
        "register",
        help="register a finished supernet.pt (a local file, or a URL with its --sha256)",
        description="Adds NAME to your registry ($BUDGETNAS_HUB/supernets.toml, default "
        "~/.cache/budgetnas/hub): every --supernet then accepts NAME. The file's SHA-256 is "
        "recorded and checked on every use; a URL is downloaded once into the hub.",
    )
    r.add_argument("name")
    r.add_argument("source", help="a supernet.pt (or training folder) or an http(s)/file URL")
    r.add_argument("--sha256", default=None, help="expected checksum (required for a URL)")
    r.add_argument("--description", default="")
    r.add_argument("--registry", default=None, help="registry file (default: yours)")
    r.add_argument(
        "--baseline",
        action="store_true",
        help="SOURCE is a reference network (a `budgetnas train-baseline` checkpoint) that "
        "`budgetnas run --compare NAME` measures beside the found one",
    )
    r.add_argument("--records", default=None, help="records file that travels with a supernet")
    r.add_argument("--recipe", default="", help="the command that reproduces the file")
    r.add_argument("--debug", action="store_true", help="show tracebacks")
    r.set_defaults(func=run_register)

    p = sub.add_parser(
        "pack", help="a finished training without its resume state (optimizer, RNG, teacher)"
    )
    p.add_argument("checkpoint", help="supernet.pt, its training folder or a run directory")
    p.add_argument("--out", required=True, help="the packed file to write")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    p.set_defaults(func=run_pack)

    rec = sub.add_parser(
        "records",
        help="write a store's predictor evaluations (expectations, one-shot scores) to a file "
        "that travels with the supernet",
    )
    rec.add_argument("store", help="store.sqlite of a run on the supernet")
    rec.add_argument("--out", required=True, help="records file to write (.json.gz)")
    rec.add_argument("--debug", action="store_true", help="show tracebacks")
    rec.set_defaults(func=run_records)


def run_list(args) -> int:
    from budgetnas.hub import describe, entries

    known = {section: entries(section) for section in ("supernets", "baselines")}
    if args.json:
        body = {s: {n: e.to_dict() for n, e in k.items()} for s, k in known.items()}
        print(json.dumps(body, indent=2))
        return 0
    for section, found in known.items():
        print(f"{section}:" if found else f"{section}: none registered")
        for entry in found.values():
            print("  " + describe(entry))
    return 0


def run_register(args) -> int:
    from budgetnas.hub import describe, is_url, register_network
    from budgetnas.training.trained import supernet_checkpoint

    source = args.source
    if not is_url(source) and not args.baseline:
        source = supernet_checkpoint(source)
    entry = register_network(
        args.name,
        source,
        args.sha256,
        args.description,
        args.registry,
        section="baselines" if args.baseline else "supernets",
        records=args.records,
        recipe=args.recipe,
    )
    print(f"registered in {entry.registry}:\n{describe(entry)}")
    return 0


def run_pack(args) -> int:
    from pathlib import Path

    from budgetnas.hub import pack_supernet, sha256_of

    pack_supernet(args.checkpoint, args.out)
    out = Path(args.out)
    print(f"{out}: {out.stat().st_size / 1e6:.2f} MB, sha256 {sha256_of(out)}")
    return 0


def run_records(args) -> int:
    from pathlib import Path

    from budgetnas.hub import export_records, sha256_of
    from budgetnas.store import Store

    if not Path(args.store).is_file():
        raise FileNotFoundError(f"no store at {args.store}")
    n = export_records(Store(args.store), args.out)
    print(f"{args.out}: {n} records, sha256 {sha256_of(args.out)}")
    return 0
