"""A stand-in notification daemon (org.freedesktop.Notifications) on whatever session bus is set.

Run it as a process: ``python fake_notifications.py CALLS_FILE``. It owns the name, prints
"ready", and appends every ``Notify`` call as one JSON line (app, icon, summary, body, hints,
timeout) to CALLS_FILE, answering with a notification id as a real daemon does.
"""

from __future__ import annotations

import json
import sys

from jeepney import HeaderFields, MessageType, new_error, new_method_return
from jeepney.bus_messages import message_bus
from jeepney.io.blocking import open_dbus_connection

NAME = "org.freedesktop.Notifications"


def main() -> None:
    calls = sys.argv[1]
    conn = open_dbus_connection(bus="SESSION")
    reply = conn.send_and_get_reply(message_bus.RequestName(NAME, 4))
    if reply.body[0] != 1:
        raise SystemExit(f"could not own {NAME}")
    print("ready", flush=True)
    next_id = 1
    while True:
        msg = conn.receive()
        if msg.header.message_type != MessageType.method_call:
            continue
        member = msg.header.fields.get(HeaderFields.member)
        if member == "Notify":
            app, _replaces, icon, summary, body, _actions, hints, timeout = msg.body
            record = {
                "app": app,
                "icon": icon,
                "summary": summary,
                "body": body,
                "urgency": hints.get("urgency", ("y", None))[1],
                "timeout": timeout,
            }
            with open(calls, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(record) + "\n")
            conn.send(new_method_return(msg, "u", (next_id,)))
            next_id += 1
        elif member == "GetServerInformation":
            conn.send(new_method_return(msg, "ssss", ("fake", "desktop-vlm tests", "1", "1.2")))
        else:
            conn.send(new_error(msg, "org.freedesktop.DBus.Error.UnknownMethod"))


if __name__ == "__main__":
    main()
