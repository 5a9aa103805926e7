"""Mixed traffic against a running server, for the crash-safety and soak tests.

The customer edits their vault and renews their consent in the portal while the vendor reads
through the API; each thread records what it attempted, what the server acknowledged, and every
status code it saw.
"""
from __future__ import annotations

import random
import re
import threading
import time
from dataclasses import dataclass, field

import requests


@dataclass
class Tally:
    """What each kind of request attempted and what the server acknowledged."""

    notes_attempted: list = field(default_factory=list)
    notes_acked: list = field(default_factory=list)
    reads_attempted: int = 0
    reads_acked: int = 0
    renews_attempted: int = 0
    renews_acked: int = 0
    #: status code -> how many responses had it (None: no response at all)
    statuses: dict = field(default_factory=dict)

    def saw(self, status) -> None:
        self.statuses[status] = self.statuses.get(status, 0) + 1


def _csrf(session: requests.Session, url: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', session.get(url, timeout=5).text).group(1)


class Load:
    """Three threads of mixed traffic until ``stop``; errors and timeouts count as unacknowledged."""

    def __init__(self, base: str, seeded: dict):
        self.base, self.seeded, self.tally = base, seeded, Tally()
        self._stop = threading.Event()
        self.browser = requests.Session()
        token = _csrf(self.browser, f"{base}/login")
        login = self.browser.post(f"{base}/login", data={"csrf_token": token, "email": seeded["customer_email"],
                                                         "password": seeded["customer_password"]},
                                  allow_redirects=False, timeout=5)
        assert login.status_code == 303
        dashboard = self.browser.get(f"{base}/me/", timeout=5).text
        self.grant_path = re.search(r'href="(/me/connections/g_[^"/]+)"', dashboard).group(1)
        self.csrf = _csrf(self.browser, f"{base}/me/profile")
        self.threads = [threading.Thread(target=t, daemon=True) for t in (self._writes, self._reads, self._renews)]

    def start(self) -> "Load":
        for thread in self.threads:
            thread.start()
        return self

    def stop(self) -> Tally:
        self._stop.set()
        for thread in self.threads:
            thread.join(timeout=30)
        return self.tally

    def _post(self, path: str, data: dict) -> bool:
        try:
            response = self.browser.post(f"{self.base}{path}", data={"csrf_token": self.csrf, **data},
                                         allow_redirects=False, timeout=5)
        except requests.RequestException:
            self.tally.saw(None)
            return False
        self.tally.saw(response.status_code)
        return response.status_code == 303

    def _writes(self) -> None:
        n = 0
        while not self._stop.is_set():
            n += 1
            value = f"note-{n}"
            self.tally.notes_attempted.append(value)
            if self._post("/me/profile", {"given_name": "Amira", "notes": value}):
                self.tally.notes_acked.append(value)

    def _reads(self) -> None:
        session = requests.Session()
        bearer = {"Authorization": f"Bearer {self.seeded['access_token']}"}
        while not self._stop.is_set():
            self.tally.reads_attempted += 1
            try:
                status = session.get(f"{self.base}/api/v1/me", headers=bearer, timeout=5).status_code
            except requests.RequestException:
                status = None
            self.tally.saw(status)
            self.tally.reads_acked += status == 200

    def _renews(self) -> None:
        while not self._stop.is_set():
            self.tally.renews_attempted += 1
            self.tally.renews_acked += self._post(f"{self.grant_path}/renew",
                                                  {"term": random.choice(["30", "90", "365"])})
            time.sleep(0.05)
