"""A private Dovecot IMAP server in a temporary directory, for tests and benchmarks."""

from __future__ import annotations

import contextlib
import imaplib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from pathlib import Path

# Folders created on first login, with their RFC 6154 roles, so discovery by role is testable.
SPECIAL_FOLDERS = {
    "Sent": "\\Sent",
    "Drafts": "\\Drafts",
    "Junk": "\\Junk",
    "Trash": "\\Trash",
    "Archive": "\\Archive",
}
NOBODY = 65534

_CONFIG = """\
protocols = imap
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_login_user = {login_user}
default_internal_user = {internal_user}
first_valid_uid = 1
mail_location = maildir:~/Maildir
mail_max_userip_connections = 200
mail_fsync = never
imap_idle_notify_interval = 2 mins
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {root}/passwd
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
service imap-login {{
  chroot =
}}
namespace inbox {{
  inbox = yes
  separator = /
{mailboxes}
}}
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _quote(name: str) -> str:
    # imaplib sends arguments as atoms; folder names with spaces or quotes need a quoted string.
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def encode_folder(name: str) -> str:
    """A folder name in IMAP's modified UTF-7 (RFC 3501 5.1.3), as servers expect it."""
    from imapclient.imap_utf7 import encode

    encoded: bytes = encode(name)
    return encoded.decode("ascii")


class Dovecot:
    """Starts `dovecot -c <config>` on a loopback port with one maildir user; installs nothing.

    Use as a context manager, or call `start()` and `stop()`. `append()` delivers mail over IMAP
    so that UIDs, flags and IDLE behave as with real delivery.
    """

    def __init__(
        self,
        root: Path | None = None,
        *,
        user: str = "inbox@example.com",
        password: str = "inbox-secret",
    ) -> None:
        self._own_root = root is None
        self.root = Path(root or tempfile.mkdtemp(prefix="carteiro-dovecot-"))
        self.host = "127.0.0.1"
        self.port = 0
        self.user = user
        self.password = password
        self._process: subprocess.Popen[bytes] | None = None

    @staticmethod
    def binary() -> str | None:
        """The dovecot executable, if installed (Debian keeps it in /usr/sbin)."""
        return shutil.which("dovecot") or shutil.which("dovecot", path="/usr/sbin:/usr/local/sbin")

    @classmethod
    def available(cls) -> bool:
        return cls.binary() is not None

    @property
    def config_path(self) -> Path:
        return self.root / "dovecot.conf"

    @property
    def maildir(self) -> Path:
        return self.root / "home" / "Maildir"

    def _accounts(self) -> tuple[str, str, int]:
        if os.geteuid() == 0:
            # Dovecot's login and mail processes refuse to run as root.
            return "dovenull", "dovecot", NOBODY
        me = pwd.getpwuid(os.getuid()).pw_name
        return me, me, os.getuid()

    def _write_config(self) -> None:
        login_user, internal_user, uid = self._accounts()
        home = self.root / "home"
        for sub in ("run", "state", "home"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        # The auth process runs as the internal user and must reach the passwd-file.
        self.root.chmod(0o755)
        if os.geteuid() == 0:
            closed = [p for p in self.root.parents if not p.stat().st_mode & 0o001]
            if closed:
                raise RuntimeError(
                    f"dovecot's processes cannot traverse {closed[0]} (mode 0700); "
                    "use a root directory under a world-traversable one such as /tmp"
                )
        if os.geteuid() == 0:
            os.chown(home, uid, uid)
        (self.root / "passwd").write_text(
            f"{self.user}:{{PLAIN}}{self.password}:{uid}:{uid}::{home}::\n"
        )
        mailboxes = "\n".join(
            f"  mailbox {name} {{\n    special_use = {use}\n    auto = subscribe\n  }}"
            for name, use in SPECIAL_FOLDERS.items()
        )
        self.config_path.write_text(
            _CONFIG.format(
                root=self.root,
                port=self.port,
                login_user=login_user,
                internal_user=internal_user,
                mailboxes=mailboxes,
            )
        )

    def start(self, timeout: float = 20.0) -> Dovecot:
        binary = self.binary()
        if binary is None:
            raise RuntimeError("dovecot is not installed (Debian: apt-get install dovecot-imapd)")
        self.port = _free_port()
        self._write_config()
        # In the foreground so the process is ours to stop; its output goes nowhere, because a
        # caller reading an inherited pipe would wait for every child process to close it.
        self._process = subprocess.Popen(
            [binary, "-F", "-c", str(self.config_path)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while True:
            try:
                with self.client():
                    return self
            except (OSError, imaplib.IMAP4.error):
                if self._process.poll() is not None or time.monotonic() > deadline:
                    log = self.root / "dovecot.log"
                    tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
                    self.stop()
                    raise RuntimeError(
                        f"dovecot did not answer on port {self.port}:\n{tail}"
                    ) from None
                time.sleep(0.05)

    def stop(self) -> None:
        """Stops the server at once (its children exit when the master goes)."""
        process = self._process
        if process is not None:
            # A clean shutdown takes seconds; nothing here needs one.
            process.kill()
            process.wait(timeout=20)
            self._process = None
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> Dovecot:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def imap_settings(self) -> dict[str, object]:
        """The account's `imap` settings as the accounts API accepts them."""
        return {
            "host": self.host,
            "port": self.port,
            "security": "none",
            "username": self.user,
            "password": self.password,
        }

    @contextlib.contextmanager
    def client(self) -> Iterator[imaplib.IMAP4]:
        """A logged-in standard-library IMAP connection."""
        conn = imaplib.IMAP4(self.host, self.port, timeout=30)
        try:
            conn.login(self.user, self.password)
            yield conn
        finally:
            with contextlib.suppress(Exception):
                conn.logout()

    def append(
        self,
        folder: str,
        raw: bytes,
        *,
        flags: Sequence[str] = (),
        date: datetime | None = None,
    ) -> None:
        """Delivers one message to `folder` (a display name; created if missing)."""
        mailbox = _quote(encode_folder(folder))
        flag_list = "(" + " ".join(flags) + ")" if flags else None
        when = imaplib.Time2Internaldate(date) if date else None
        with self.client() as conn:
            self._ensure(conn, mailbox)
            typ, data = conn.append(mailbox, flag_list, when, raw)
            if typ != "OK":
                raise RuntimeError(f"APPEND to {folder} failed: {data!r}")

    def append_many(
        self,
        folder: str,
        messages: Iterable[bytes],
        *,
        flags: Sequence[str] = (),
        date: datetime | None = None,
        batch: int = 200,
    ) -> int:
        """Delivers several messages with MULTIAPPEND (RFC 3502), `batch` per command."""
        from imapclient import IMAPClient

        client = IMAPClient(self.host, self.port, ssl=False, timeout=60)
        count = 0
        try:
            client.login(self.user, self.password)
            if not client.folder_exists(folder):
                client.create_folder(folder)
            pending: list[dict[str, object]] = []
            for raw in messages:
                item: dict[str, object] = {"msg": raw, "flags": tuple(flags)}
                if date is not None:
                    item["date"] = date
                pending.append(item)
                if len(pending) >= batch:
                    client.multiappend(folder, pending)
                    count, pending = count + len(pending), []
            if pending:
                client.multiappend(folder, pending)
                count += len(pending)
        finally:
            with contextlib.suppress(Exception):
                client.logout()
        return count

    @staticmethod
    def _ensure(conn: imaplib.IMAP4, mailbox: str) -> None:
        typ, _ = conn.select(mailbox, readonly=True)
        if typ != "OK":
            conn.create(mailbox)

    def store(self, folder: str, uids: Sequence[int], op: str, flags: Sequence[str]) -> None:
        """`op` is '+FLAGS', '-FLAGS' or 'FLAGS', applied to the messages with these UIDs."""
        with self.client() as conn:
            conn.select(_quote(encode_folder(folder)))
            uid_set = ",".join(str(u) for u in uids)
            conn.uid("STORE", uid_set, op, "(" + " ".join(flags) + ")")

    def expunge(self, folder: str, uids: Sequence[int]) -> None:
        """Deletes the messages with these UIDs for good."""
        with self.client() as conn:
            conn.select(_quote(encode_folder(folder)))
            conn.uid("STORE", ",".join(str(u) for u in uids), "+FLAGS", "(\\Deleted)")
            conn.expunge()

    def uids(self, folder: str) -> list[int]:
        with self.client() as conn:
            conn.select(_quote(encode_folder(folder)), readonly=True)
            _, data = conn.uid("SEARCH", "ALL")
            return [int(x) for x in (data[0] or b"").split()]

    def uidvalidity(self, folder: str) -> int:
        with self.client() as conn:
            _, data = conn.status(_quote(encode_folder(folder)), "(UIDVALIDITY)")
            text = data[0].decode() if data and data[0] else ""
            return int(text.rsplit("UIDVALIDITY", 1)[1].strip(" )"))

    def recreate(self, folder: str) -> list[bytes]:
        """Deletes `folder` and creates it again, returning what it held: a new UIDVALIDITY."""
        mailbox = _quote(encode_folder(folder))
        with self.client() as conn:
            conn.select(mailbox, readonly=True)
            _, data = conn.uid("SEARCH", "ALL")
            held: list[bytes] = []
            for uid in (data[0] or b"").split():
                _, parts = conn.uid("FETCH", uid.decode(), "(BODY.PEEK[])")
                held.extend(p[1] for p in parts if isinstance(p, tuple))
            conn.close()
            conn.delete(mailbox)
            conn.create(mailbox)
        return held
