"""``cdrflow token create|list|revoke``: bearer tokens for clients of the HTTP API.

A token is printed once, by ``create``; the database keeps only its SHA-256, so a lost token
is replaced by revoking the client and creating a new one.
"""

from __future__ import annotations

import argparse
import sys

from engine.commands._common import EXIT_FINDINGS, EXIT_OK, EXIT_USAGE
from engine.commands.db import add_database_option, open_session_factory


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("token", help="create, list or revoke API client tokens",
                       description="Manage the bearer tokens of HTTP API clients.")
    actions = p.add_subparsers(dest="token_action", required=True, metavar="ACTION")
    create = actions.add_parser("create", help="create a client and print its token (shown only once)")
    create.add_argument("--client", required=True, metavar="NAME", help="client name (unique)")
    add_database_option(create)
    create.set_defaults(func=run_create)
    listing = actions.add_parser("list", help="list clients (never their tokens)")
    add_database_option(listing)
    listing.set_defaults(func=run_list)
    revoke = actions.add_parser("revoke", help="revoke a client's token")
    revoke.add_argument("--client", required=True, metavar="NAME", help="client name")
    add_database_option(revoke)
    revoke.set_defaults(func=run_revoke)


def _with_session(args: argparse.Namespace, action) -> int:
    factory = open_session_factory(args.database_url)
    if factory is None:
        return EXIT_USAGE
    try:
        with factory() as session:
            code = action(session)
            session.commit()
            return code
    finally:
        factory.kw["bind"].dispose()


def run_create(args: argparse.Namespace) -> int:
    from engine.store.clients import ClientError, create_client

    def action(session) -> int:
        try:
            token = create_client(session, args.client)
        except ClientError as exc:
            print(f"cdrflow token: {exc}", file=sys.stderr)
            return EXIT_FINDINGS
        print(token)
        print(f"created client {args.client!r}; store the token now, it is not shown again", file=sys.stderr)
        return EXIT_OK

    return _with_session(args, action)


def run_list(args: argparse.Namespace) -> int:
    from engine.store.clients import list_clients

    def action(session) -> int:
        clients = list_clients(session)
        if not clients:
            print("no API clients")
        for c in clients:
            status = f"revoked {c.revoked_at:%Y-%m-%d %H:%M:%SZ}" if c.revoked_at else "active"
            print(f"{c.name:<32} created {c.created_at:%Y-%m-%d %H:%M:%SZ}  {status}")
        return EXIT_OK

    return _with_session(args, action)


def run_revoke(args: argparse.Namespace) -> int:
    from engine.store.clients import ClientError, revoke_client

    def action(session) -> int:
        try:
            changed = revoke_client(session, args.client)
        except ClientError as exc:
            print(f"cdrflow token: {exc}", file=sys.stderr)
            return EXIT_FINDINGS
        print(f"revoked client {args.client!r}" if changed else f"client {args.client!r} was already revoked")
        return EXIT_OK

    return _with_session(args, action)
