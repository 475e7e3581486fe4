"""A real SMTP server for the tests (aiosmtpd): keeps every message it accepts as
NNNNNN.eml in a folder, written whole (a temporary name, then a rename).

Recipients whose local part starts with `reject` get `550` at RCPT (a permanent failure);
those starting with `defer` get `451` (a transient one). Prints `ready PORT` once listening.

With --tls starttls or implicit (and --cert/--key, a certificate the test's own CA signed)
the server offers STARTTLS and requires it, or speaks TLS from the first byte; with --auth
USER:PASSWORD it requires AUTH (only over TLS with STARTTLS), offering the mechanisms of
--mechanisms, and writes each successful login to auth.log as "MECHANISM USER".

usage: smtp_server.py PORT FOLDER [--tls starttls|implicit --cert C --key K]
                      [--auth USER:PASSWORD] [--mechanisms PLAIN,LOGIN]
"""

import argparse
import itertools
import os
import ssl
import sys
import warnings

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Keep:
    def __init__(self, folder):
        self.folder = folder
        self.numbers = itertools.count(1)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@", 1)[0].lower()
        if local.startswith("reject"):
            return "550 5.1.1 <%s>: mailbox unavailable" % address
        if local.startswith("defer"):
            return "451 4.3.0 <%s>: try again later" % address
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        number = next(self.numbers)
        final = os.path.join(self.folder, "%06d.eml" % number)
        partial = final + ".partial"
        with open(partial, "wb") as f:
            f.write(envelope.original_content)
        os.rename(partial, final)
        return "250 Message accepted for delivery"


class Check:
    """Accepts one login and records it (aiosmtpd's authenticator interface)."""

    def __init__(self, folder, user, password):
        self.log = os.path.join(folder, "auth.log")
        self.user, self.password = user.encode(), password.encode()

    def __call__(self, server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == self.user
            and auth_data.password == self.password
        )
        if ok:
            with open(self.log, "a") as f:
                f.write("%s %s\n" % (mechanism, self.user.decode()))
        return AuthResult(success=ok)


def main():
    # aiosmtpd warns of what the tests do on purpose (AUTH without TLS).
    warnings.simplefilter("ignore")
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("folder")
    parser.add_argument("--tls", choices=["starttls", "implicit"])
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--auth")
    parser.add_argument("--mechanisms", default="PLAIN,LOGIN")
    args = parser.parse_args()
    os.makedirs(args.folder, exist_ok=True)
    options = {}
    if args.tls:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.cert, args.key)
        if args.tls == "starttls":
            options.update(tls_context=context, require_starttls=True)
        else:
            options.update(ssl_context=context)
    if args.auth:
        user, password = args.auth.split(":", 1)
        offered = set(args.mechanisms.split(","))
        options.update(
            authenticator=Check(args.folder, user, password),
            auth_required=True,
            auth_require_tls=args.tls == "starttls",
            auth_exclude_mechanism=[m for m in ("PLAIN", "LOGIN") if m not in offered],
        )
    controller = Controller(
        Keep(args.folder),
        hostname="127.0.0.1",
        port=args.port,
        decode_data=False,
        server_hostname="localhost",
        **options,
    )
    controller.start()
    print("ready %d" % args.port, flush=True)
    try:
        sys.stdin.read()  # runs until the test closes stdin or kills the process
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
