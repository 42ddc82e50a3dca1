"""Server-rendered page shells (storefront, drop, orders, F-codes, operator dashboard) and their assets."""
from __future__ import annotations

from app.web.router import mount_static, router

__all__ = ["mount_static", "router"]
