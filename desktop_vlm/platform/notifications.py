"""Desktop notifications through org.freedesktop.Notifications (GNOME, KDE, Xfce, dunst, mako...).

They work where a tray balloon cannot: on Wayland, and on GNOME without a tray. jeepney builds
the ``Notify`` call (QtDBus cannot marshal its ``as`` / ``a{sv}`` arguments from Python). The
call is sent without waiting for the reply, so a slow notification daemon never stalls the GUI;
whether a daemon exists is asked once, with a short timeout.
"""

from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)

SERVICE = "org.freedesktop.Notifications"
PATH = "/org/freedesktop/Notifications"
APP_NAME = "desktop-vlm"


class DesktopNotifications:
    def __init__(self, app_icon: str = "desktop-vlm") -> None:
        self._icon = app_icon
        self._conn = None
        self._available: bool | None = None
        self._bus_address = ""

    def available(self) -> bool:
        """True when a notification daemon owns the name on the session bus (asked once)."""
        address = os.environ.get("DBUS_SESSION_BUS_ADDRESS", "")
        if self._available is not None and address == self._bus_address:
            return self._available
        self._bus_address = address
        self._available = False
        self.close()
        try:
            from jeepney.bus_messages import message_bus
            from jeepney.io.blocking import open_dbus_connection

            conn = None
            conn = open_dbus_connection(bus="SESSION")
            reply = conn.send_and_get_reply(message_bus.NameHasOwner(SERVICE), timeout=1.0)
        except Exception as exc:  # noqa: BLE001 - no bus, no jeepney, a broken daemon: no D-Bus
            log.info("desktop notifications unavailable: %s", exc)
            if conn is not None:
                conn.close()
            return False
        if reply.body and reply.body[0]:
            self._conn = conn
            self._available = True
        else:
            conn.close()
            log.info("no notification daemon on the session bus")
        return self._available

    def notify(self, title: str, body: str, *, error: bool = False, msecs: int = 4000) -> bool:
        """Show a notification; False when none could be sent (the caller falls back)."""
        if not self.available():
            return False
        from jeepney import DBusAddress, new_method_call

        address = DBusAddress(PATH, bus_name=SERVICE, interface=SERVICE)
        hints = {"urgency": ("y", 2 if error else 1), "desktop-entry": ("s", APP_NAME)}
        message = new_method_call(
            address,
            "Notify",
            "susssasa{sv}i",
            (APP_NAME, 0, self._icon, title, body, [], hints, msecs),
        )
        try:
            self._conn.send(message)
        except Exception as exc:  # noqa: BLE001 - the daemon went away: fall back this time
            log.info("notification not sent: %s", exc)
            self._available = None
            return False
        return True

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:  # noqa: BLE001
                pass
            self._conn = None
