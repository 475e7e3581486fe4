"""A real SMTP server for the tests (aiosmtpd): keeps every message it accepts as
NNNNNN.eml in a folder, written whole (a temporary name, then a rename).

Recipients whose local part starts with `reject` get `550` at RCPT (a permanent failure);
those starting with `defer` get `451` (a transient one). Prints `ready PORT` once listening.

usage: smtp_server.py PORT FOLDER
"""

import asyncio
import itertools
import os
import sys

from aiosmtpd.controller import Controller


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


def main():
    port, folder = int(sys.argv[1]), sys.argv[2]
    os.makedirs(folder, exist_ok=True)
    controller = Controller(Keep(folder), hostname="127.0.0.1", port=port, decode_data=False)
    controller.start()
    print("ready %d" % port, flush=True)
    try:
        sys.stdin.read()  # runs until the test closes stdin or kills the process
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
