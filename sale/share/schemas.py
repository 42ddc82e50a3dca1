from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict


class ShareOut(BaseModel):
    """What a front end needs to share a paid order, and how the link did."""

    url: str
    card_url: str
    text: str  # a suggested post, without the URL (share sheets take the URL apart)
    show_name: bool
    created_at: datetime
    views: int
    crawler_views: int  # link-preview fetches by social networks and chat apps, counted apart
    referred_orders: int  # paid orders of other buyers credited to this link


class ShareUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    show_name: bool
