"""Running the local services as an unprivileged user.

PostgreSQL refuses to run as root, and a broker has no reason to: when the platform is started as root, both
run as the system user ``kipsense`` (created on first use); otherwise as the calling user.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

SERVICE_USER = "kipsense"


class StackError(RuntimeError):
    """The local stack cannot be brought to the requested state; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class ServiceUser:
    """Who the services run as, and the command prefix that switches to them."""

    name: str
    uid: int
    gid: int
    prefix: tuple[str, ...]

    def chown(self, path: Path) -> None:
        """Give ``path`` (recursively) to the service user when we are root."""
        if os.geteuid() != 0:
            return
        for root, dirs, files in os.walk(path):
            os.chown(root, self.uid, self.gid)
            for name in dirs + files:
                os.chown(os.path.join(root, name), self.uid, self.gid, follow_symlinks=False)

    def can_reach(self, path: Path) -> bool:
        """True when the service user can enter ``path`` (every parent must be searchable)."""
        if not self.prefix:
            return True
        result = subprocess.run([*self.prefix, "test", "-x", str(path)], check=False)  # noqa: S603
        return result.returncode == 0


def service_user() -> ServiceUser:
    """The unprivileged user the services run as, creating the system user when running as root."""
    if os.geteuid() != 0:
        entry = pwd.getpwuid(os.geteuid())
        return ServiceUser(entry.pw_name, entry.pw_uid, entry.pw_gid, ())
    try:
        entry = pwd.getpwnam(SERVICE_USER)
    except KeyError:
        useradd = shutil.which("useradd") or "/usr/sbin/useradd"
        subprocess.run(  # noqa: S603
            [useradd, "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SERVICE_USER],
            check=True,
        )
        entry = pwd.getpwnam(SERVICE_USER)
    runuser = shutil.which("runuser") or "/usr/sbin/runuser"
    return ServiceUser(entry.pw_name, entry.pw_uid, entry.pw_gid, (runuser, "-u", SERVICE_USER, "--"))
