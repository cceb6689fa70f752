"""A stand-in for xdg-desktop-portal's Screenshot interface, on whatever session bus is set.

Run it as a process: ``python fake_portal.py MODE [--image PNG] [--calls FILE]``. It takes the
name org.freedesktop.portal.Desktop, prints "ready" on stdout, and answers every
``org.freedesktop.portal.Screenshot.Screenshot`` call the way a real portal does: it returns the
request object path at once and later emits ``org.freedesktop.portal.Request.Response`` on it.

Modes, one per way a real portal behaves:

- ``success``: copies ``--image`` to a new file (as a real portal writes a fresh screenshot) and
  answers response 0 with its ``file://`` URI.
- ``existing``: answers response 0 with the URI of ``--image`` itself, as if the portal pointed
  at a file that was already there.
- ``cancel`` / ``deny``: answers response 1 (the person cancelled) / 2 (refused by policy).
- ``silent``: returns the request path and never answers, which is what real portals do when
  the permission dialog is hidden or denied without a word.

The Response is emitted straight after the method reply: a client that subscribes to it only
after its call returns can miss it, exactly as the portal documentation warns.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

from jeepney import DBusAddress, HeaderFields, MessageType, new_error, new_method_return, new_signal
from jeepney.bus_messages import message_bus
from jeepney.io.blocking import open_dbus_connection

NAME = "org.freedesktop.portal.Desktop"
PATH = "/org/freedesktop/portal/desktop"
SCREENSHOT = "org.freedesktop.portal.Screenshot"
REQUEST = "org.freedesktop.portal.Request"
RESPONSES = {"success": 0, "existing": 0, "cancel": 1, "deny": 2}

INTROSPECTION = f"""<node>
 <interface name="{SCREENSHOT}">
  <method name="Screenshot">
   <arg type="s" name="parent_window" direction="in"/>
   <arg type="a{{sv}}" name="options" direction="in"/>
   <arg type="o" name="handle" direction="out"/>
  </method>
 </interface>
</node>"""


def request_path(sender: str, token: str) -> str:
    return f"{PATH}/request/{sender.lstrip(':').replace('.', '_')}/{token}"


def screenshot_file(mode: str, image: Path | None) -> Path:
    if image is None:
        raise SystemExit(f"mode {mode} needs --image")
    if mode == "existing":
        return image
    fd, name = tempfile.mkstemp(prefix="Screenshot-", suffix=".png")
    with open(fd, "wb") as out, image.open("rb") as src:
        shutil.copyfileobj(src, out)
    return Path(name)


def serve(mode: str, image: Path | None, calls: Path | None) -> None:
    conn = open_dbus_connection(bus="SESSION")
    reply = conn.send_and_get_reply(message_bus.RequestName(NAME, 4))  # 4: do not queue
    if reply.body[0] != 1:
        raise SystemExit(f"could not own {NAME}: RequestName answered {reply.body[0]}")
    print("ready", flush=True)
    while True:
        msg = conn.receive()
        if msg.header.message_type != MessageType.method_call:
            continue
        fields = msg.header.fields
        interface, member = fields.get(HeaderFields.interface), fields.get(HeaderFields.member)
        if member == "Introspect":
            conn.send(new_method_return(msg, "s", (INTROSPECTION,)))
            continue
        if (interface, member) != (SCREENSHOT, "Screenshot"):
            conn.send(new_error(msg, "org.freedesktop.DBus.Error.UnknownMethod", "s", (member,)))
            continue
        parent_window, options = msg.body
        token = options.get("handle_token", ("s", "t0"))[1]
        handle = request_path(fields[HeaderFields.sender], token)
        if calls is not None:
            record = {"parent_window": parent_window, "handle": handle}
            record.update({key: value for key, (_sig, value) in options.items()})
            with calls.open("a") as out:
                out.write(json.dumps(record) + "\n")
        conn.send(new_method_return(msg, "o", (handle,)))
        if mode == "silent":
            continue
        results = {}
        if RESPONSES[mode] == 0:
            results["uri"] = ("s", screenshot_file(mode, image).as_uri())
        signal = new_signal(
            DBusAddress(handle, interface=REQUEST), "Response", "ua{sv}", (RESPONSES[mode], results)
        )
        conn.send(signal)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=[*RESPONSES, "silent"])
    parser.add_argument("--image", type=Path)
    parser.add_argument("--calls", type=Path, help="append each call's options here as JSON")
    args = parser.parse_args()
    try:
        serve(args.mode, args.image, args.calls)
    except (KeyboardInterrupt, BrokenPipeError):
        sys.exit(0)


if __name__ == "__main__":
    main()
