"""The API key: in the OS keyring (Secret Service, KWallet, Keychain, Windows Credential
Locker), one entry per provider profile, or from the environment, which wins.

There is no plaintext fallback: when no secure keyring is usable, the person is told how to
get one or to use the environment variable.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from dataclasses import dataclass

from desktop_vlm import APP_NAME
from desktop_vlm.core.errors import KeyringError
from desktop_vlm.core.logsafe import register_secret
from desktop_vlm.core.providers import OVERRIDE_KEY_ENV, provider

log = logging.getLogger(__name__)

#: Read for every profile, before the profile's own variables.
ENV_KEYS = (OVERRIDE_KEY_ENV,)
SERVICE = APP_NAME

_NO_KEYRING_HINT = (
    "Install and unlock a keyring (gnome-keyring or KWallet on Linux), "
    "or set DESKTOP_VLM_API_KEY (or the provider's own variable) in the environment"
)


@dataclass(frozen=True)
class KeySource:
    """Where a key came from, for `key status` (never the key itself)."""

    kind: str  # "env", "keyring" or "none"
    detail: str


class KeyStore:
    """Get, set and delete the API key of each provider profile."""

    def __init__(self, service: str = SERVICE, environ: dict[str, str] | None = None) -> None:
        self.service = service
        self._environ = os.environ if environ is None else environ

    # --- reading --------------------------------------------------------------------------

    def env_variables(self, profile: str | None) -> tuple[str, ...]:
        """The variables read for ``profile``: DESKTOP_VLM_API_KEY, then the ones its users
        already set (OPENAI_API_KEY for openai, ...)."""
        known = provider(profile) if profile else None
        return ENV_KEYS + (known.key_env if known is not None else ())

    def env_key(self, profile: str | None = None) -> tuple[str, str] | None:
        """(variable, key) from the environment; a key that cannot be sent (a line break, a
        character outside printable ASCII) is refused here, naming the variable."""
        from desktop_vlm.core.errors import UsageError
        from desktop_vlm.core.secrets_rules import validate_api_key

        for name in self.env_variables(profile):
            value = self._environ.get(name, "").strip()
            if value:
                try:
                    return name, validate_api_key(value)
                except UsageError as exc:
                    raise KeyringError(f"{name}: {exc.message}", f"Fix or unset {name}") from None
        return None

    def get(self, profile: str) -> str | None:
        """The key for ``profile``: the environment's if set, else the keyring's, else None."""
        env = self.env_key(profile)
        key = (
            env[1]
            if env
            else self._keyring_call("read", lambda kr: kr.get_password(self.service, profile))
        )
        register_secret(key)
        return key

    def source(self, profile: str) -> KeySource:
        env = self.env_key(profile)
        if env:
            return KeySource("env", f"from the environment variable {env[0]}")
        with _closing_connections():
            backend = self._backend()
        stored = self._keyring_call("read", lambda kr: kr.get_password(self.service, profile))
        name = _backend_name(backend)
        if stored:
            return KeySource("keyring", f"stored in {name} for profile '{profile}'")
        return KeySource("none", f"no key stored in {name} for profile '{profile}'")

    # --- writing --------------------------------------------------------------------------

    def set(self, profile: str, key: str) -> None:
        key = key.strip()
        if not key:
            raise ValueError("empty key")
        register_secret(key)
        self._keyring_call("store", lambda kr: kr.set_password(self.service, profile, key))

    def delete(self, profile: str) -> bool:
        """Remove the stored key; False when there was none."""
        import keyring.errors

        def remove(kr):
            try:
                kr.delete_password(self.service, profile)
            except keyring.errors.PasswordDeleteError:
                return False
            return True

        return self._keyring_call("delete", remove)

    # --- the backend ----------------------------------------------------------------------

    def _backend(self):
        import keyring
        from keyring.backends import fail

        try:
            backend = keyring.get_keyring()
        except Exception as exc:  # noqa: BLE001 - a broken keyring config must not crash us
            raise KeyringError(
                f"The keyring could not be loaded ({exc})", _NO_KEYRING_HINT
            ) from None
        if isinstance(backend, fail.Keyring) or _is_insecure(backend):
            raise KeyringError(
                f"No secure keyring is available (found {_backend_name(backend)})", _NO_KEYRING_HINT
            )
        return backend

    def _keyring_call(self, what: str, call):
        import keyring.errors

        with _closing_connections():
            backend = self._backend()
            try:
                return call(backend)
            except keyring.errors.KeyringLocked:
                raise KeyringError(
                    "The keyring is locked", "Unlock it (log in to your desktop session) and retry"
                ) from None
            except keyring.errors.KeyringError as exc:
                raise KeyringError(
                    f"The keyring refused to {what} the key ({_clean(exc)})", _NO_KEYRING_HINT
                ) from None
            except Exception as exc:  # noqa: BLE001 - D-Bus errors arrive as many types
                log.debug("keyring %s failed: %s", what, type(exc).__name__)
                raise KeyringError(
                    f"The keyring could not {what} the key ({_clean(exc)})", _NO_KEYRING_HINT
                ) from None


def _clean(exc: Exception) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:200]


def _backend_name(backend) -> str:
    name = getattr(backend, "name", None) or type(backend).__name__
    return str(name)


def _is_insecure(backend) -> bool:
    """Plaintext or null backends (keyrings.alt, keyring.backends.null) are never used."""
    module = type(backend).__module__
    if module.startswith("keyrings.alt") or module == "keyring.backends.null":
        return True
    if type(backend).__name__ == "ChainerBackend":
        backends = getattr(backend, "backends", None) or []
        return not backends or any(_is_insecure(b) for b in backends)
    return False


# --- every D-Bus connection the keyring opens is closed ------------------------------------

_tracked = threading.local()
_patch_lock = threading.Lock()
_patched = False


@contextlib.contextmanager
def _closing_connections():
    """Close every session-bus connection the Secret Service backend opened during the block.

    keyring's SecretService backend opens a connection per call and leaves it open when the
    collection is locked or cannot be created; an open socket left to the garbage collector
    surfaces at random later (a ResourceWarning, or the bus running out of connections in a
    long-running app). secretstorage.dbus_init is wrapped once so that, per thread, each
    connection opened inside this block is closed when it ends.
    """
    _patch_secretstorage()
    opened: list = []
    outer = getattr(_tracked, "opened", None)
    _tracked.opened = opened
    try:
        yield
    finally:
        _tracked.opened = outer
        for connection in opened:
            with contextlib.suppress(Exception):
                connection.close()


def _patch_secretstorage() -> None:
    global _patched
    if _patched:
        return
    with _patch_lock:
        if _patched:
            return
        try:
            import secretstorage
        except ImportError:  # not Linux, or no Secret Service support: nothing to track
            _patched = True
            return
        original = secretstorage.dbus_init

        def dbus_init():  # noqa: ANN202 - secretstorage's own signature
            connection = original()
            opened = getattr(_tracked, "opened", None)
            if opened is not None:
                opened.append(connection)
            return connection

        secretstorage.dbus_init = dbus_init
        _patched = True
