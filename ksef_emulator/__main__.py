"""Command line: ``python -m ksef_emulator [--host H] [--port P] [--state DIR] [--config JSON]``,
``python -m ksef_emulator token create --nip NIP --state DIR [--permissions ...]`` and
``python -m ksef_emulator seed --url URL FILE.xml ...`` (purchase invoices, see seed_cli.py)."""
import argparse
import json
import sys
import tempfile


def _serve(argv):
    parser = argparse.ArgumentParser(prog="python -m ksef_emulator", description="Local KSeF 2.0 emulator.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    parser.add_argument("--state", help="state directory (SQLite); default: a new temporary directory")
    parser.add_argument("--config", help='JSON object of config overrides, e.g. \'{"rateLimitsEnabled": false}\'')
    args = parser.parse_args(argv)
    overrides = {}
    if args.config:
        try:
            overrides = json.loads(args.config)
        except ValueError as exc:
            parser.error("--config must be a JSON object: %s" % exc)
    from .app import EmulatorApp, serve
    state_dir = args.state or tempfile.mkdtemp(prefix="ksef-emulator-")
    try:
        app = EmulatorApp(state_dir, overrides)
    except ValueError as exc:
        parser.error(str(exc))
    try:
        serve(app, args.host, args.port)
    except KeyboardInterrupt:
        pass


def _token(argv):
    parser = argparse.ArgumentParser(prog="python -m ksef_emulator token create",
                                     description="Create a KSeF token in the emulator's state (prints JSON).")
    parser.add_argument("action", choices=["create"])
    parser.add_argument("--nip", required=True, help="context NIP (10 digits)")
    parser.add_argument("--state", required=True, help="state directory of the emulator")
    parser.add_argument("--permissions", default="InvoiceRead,InvoiceWrite",
                        help="comma separated, e.g. InvoiceRead,InvoiceWrite,CredentialsManage")
    parser.add_argument("--description", default="Token created from the command line")
    args = parser.parse_args(argv)
    from .clock import Clock
    from .ksef_tokens import create_token
    from .store import Store
    store = Store(args.state)
    try:
        result = create_token(store, Clock(store), args.nip, [p.strip() for p in args.permissions.split(",") if p.strip()],
                              args.description)
    except ValueError as exc:
        parser.error(str(exc))
    print(json.dumps(result))


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "token":
        _token(argv[1:])
    elif argv and argv[0] == "seed":
        from .seed_cli import main as seed_main
        seed_main(argv[1:])
    else:
        _serve(argv)


if __name__ == "__main__":
    main()
