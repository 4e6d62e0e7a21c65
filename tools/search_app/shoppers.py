"""Per-shopper state: each browser (a random token in its signed cookie) owns one query at a time -- a
:class:`tools.paper004.search.SearchSession` plus what the page shows of it -- so concurrent shoppers
never see each other's query, manipulations or feedback weights.  Bounded (least recently used
shoppers are forgotten first) and thread-safe (the server answers requests on several threads).
"""
from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass, field


@dataclass
class Shopper:
    session: object = None              # SearchSession of the current query (None before the first)
    query_jpeg: bytes = b""             # the image the page shows as the query
    query_label: str = ""               # where it came from: "query set #3", "upload x.jpg", "result #2"
    picks: list = field(default_factory=list)   # feedback rounds: the gallery ids picked in each
    lock: threading.Lock = field(default_factory=threading.Lock)


class ShopperStore:
    def __init__(self, capacity=512):
        self.capacity = int(capacity)
        self._items = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def new_token():
        return secrets.token_urlsafe(18)

    def get(self, token):
        """The shopper of ``token`` (created when unknown or forgotten)."""
        with self._lock:
            s = self._items.get(token)
            if s is None:
                s = self._items[token] = Shopper()
                while len(self._items) > self.capacity:
                    self._items.popitem(last=False)
            else:
                self._items.move_to_end(token)
            return s

    def __len__(self):
        with self._lock:
            return len(self._items)
