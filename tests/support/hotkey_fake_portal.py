"""A stand-in for xdg-desktop-portal's GlobalShortcuts interface, on whatever session bus is set.

Run it as a process: ``python hotkey_fake_portal.py MODE``. It takes the name
org.freedesktop.portal.Desktop, prints "ready", and serves GlobalShortcuts version 1 the way the
real portal does: CreateSession and BindShortcuts return a Request object path at once and answer
later with that Request's ``Response`` signal, sent only to the caller.

What it did goes to stdout, one line each, for the test to read:
``session PATH``, ``bound ID PREFERRED_TRIGGER DESCRIPTION``, ``closed PATH``.
A line ``activate ID`` on stdin emits ``Activated`` for the shortcut ID, as if the person had
pressed it.

Modes: ``ok`` binds what is asked; ``cancel`` answers BindShortcuts with response 1 (the person
closed the desktop's dialog); ``silent`` never answers BindShortcuts, as portals do when their
dialog cannot be shown.
"""

from __future__ import annotations

import argparse
import os
import selectors
import sys
import time

from jeepney import (
    DBusAddress,
    HeaderFields,
    Message,
    MessageType,
    new_error,
    new_method_return,
    new_signal,
)
from jeepney.bus_messages import message_bus
from jeepney.io.blocking import DBusConnection, open_dbus_connection

NAME = "org.freedesktop.portal.Desktop"
PATH = "/org/freedesktop/portal/desktop"
SHORTCUTS = "org.freedesktop.portal.GlobalShortcuts"
REQUEST = "org.freedesktop.portal.Request"
SESSION = "org.freedesktop.portal.Session"
PROPERTIES = "org.freedesktop.DBus.Properties"


def say(line: str) -> None:
    print(line, flush=True)


def object_path(kind: str, sender: str, token: str) -> str:
    return f"{PATH}/{kind}/{sender.lstrip(':').replace('.', '_')}/{token}"


class FakePortal:
    def __init__(self, conn: DBusConnection, mode: str) -> None:
        self.conn = conn
        self.mode = mode
        self.sessions: dict[str, str] = {}  # session path -> owner's unique name

    def respond(self, to: str, handle: str, code: int, results: dict) -> None:
        signal = new_signal(
            DBusAddress(handle, interface=REQUEST), "Response", "ua{sv}", (code, results)
        )
        signal.header.fields[HeaderFields.destination] = to
        self.conn.send(signal)

    def handle(self, msg: Message) -> None:
        fields = msg.header.fields
        interface, member = fields.get(HeaderFields.interface), fields.get(HeaderFields.member)
        sender = fields[HeaderFields.sender]
        if (interface, member) == (PROPERTIES, "Get") and msg.body == (SHORTCUTS, "version"):
            self.conn.send(new_method_return(msg, "v", (("u", 1),)))
        elif (interface, member) == (SHORTCUTS, "CreateSession"):
            (options,) = msg.body
            handle = object_path("request", sender, options["handle_token"][1])
            session = object_path("session", sender, options["session_handle_token"][1])
            self.sessions[session] = sender
            self.conn.send(new_method_return(msg, "o", (handle,)))
            say(f"session {session}")
            self.respond(sender, handle, 0, {"session_handle": ("s", session)})
        elif (interface, member) == (SHORTCUTS, "BindShortcuts"):
            session, shortcuts, _parent_window, options = msg.body
            handle = object_path("request", sender, options["handle_token"][1])
            self.conn.send(new_method_return(msg, "o", (handle,)))
            if self.sessions.get(session) != sender:
                self.respond(sender, handle, 2, {})
                return
            if self.mode == "silent":
                return
            if self.mode == "cancel":
                self.respond(sender, handle, 1, {})
                return
            bound = []
            for shortcut_id, properties in shortcuts:
                trigger = properties.get("preferred_trigger", ("s", ""))[1]
                description = properties["description"][1]
                say(f"bound {shortcut_id} {trigger} {description}")
                bound.append(
                    (
                        shortcut_id,
                        {
                            "description": ("s", description),
                            "trigger_description": ("s", f"Press {trigger}"),
                        },
                    )
                )
            self.respond(sender, handle, 0, {"shortcuts": ("a(sa{sv})", bound)})
        elif (interface, member) == (SESSION, "Close"):
            path = fields[HeaderFields.path]
            self.sessions.pop(path, None)
            say(f"closed {path}")
            self.conn.send(new_method_return(msg))
        elif (interface, member) == (REQUEST, "Close"):
            self.conn.send(new_method_return(msg))
        else:
            error = "org.freedesktop.DBus.Error.UnknownMethod"
            self.conn.send(new_error(msg, error, "s", (f"{interface}.{member}",)))

    def activate(self, shortcut_id: str) -> None:
        for session, owner in self.sessions.items():
            signal = new_signal(
                DBusAddress(PATH, interface=SHORTCUTS),
                "Activated",
                "osta{sv}",
                (session, shortcut_id, int(time.monotonic() * 1000), {}),
            )
            signal.header.fields[HeaderFields.destination] = owner
            self.conn.send(signal)


def serve(mode: str) -> None:
    conn = open_dbus_connection(bus="SESSION")
    reply = conn.send_and_get_reply(message_bus.RequestName(NAME, 4))  # 4: do not queue
    if reply.body[0] != 1:
        raise SystemExit(f"could not own {NAME}: RequestName answered {reply.body[0]}")
    portal = FakePortal(conn, mode)
    watch = selectors.DefaultSelector()
    watch.register(conn.sock, selectors.EVENT_READ)
    stdin = sys.stdin.fileno()
    watch.register(stdin, selectors.EVENT_READ)
    commands = b""
    say("ready")
    while True:
        for key, _events in watch.select():
            if key.fileobj == stdin:
                data = os.read(stdin, 4096)
                if not data:
                    return
                commands += data
                while b"\n" in commands:
                    line, commands = commands.split(b"\n", 1)
                    command, _, argument = line.decode().strip().partition(" ")
                    if command == "activate":
                        portal.activate(argument)
                continue
            # Drain everything jeepney has, so no message waits in its buffer unseen.
            while True:
                try:
                    msg = conn.receive(timeout=0)
                except TimeoutError:
                    break
                if msg.header.message_type == MessageType.method_call:
                    portal.handle(msg)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["ok", "cancel", "silent"])
    args = parser.parse_args()
    try:
        serve(args.mode)
    except (KeyboardInterrupt, BrokenPipeError, ConnectionResetError):
        sys.exit(0)


if __name__ == "__main__":
    main()
