"""Feed formats (API.md `usage/files`): one small module each, registered by format name."""

from __future__ import annotations

from ..formats import FeedError
from .base import CostItem, Feed, FeedOptions
from .generic import GenericCsvFeed, NdjsonFeed, RequestTraceFeed

FEEDS: dict[str, Feed] = {}


def register(feed: Feed) -> Feed:
    FEEDS[feed.format] = feed
    return feed


def feed_for(format: str) -> Feed:
    try:
        return FEEDS[format]
    except KeyError:
        raise FeedError(f"The {format} format is not supported.") from None


for _feed in (GenericCsvFeed(), NdjsonFeed(), RequestTraceFeed()):
    register(_feed)

# Vendor feeds: each module registers its feeds with register() when imported.
from . import anthropic, focus, openai, openrouter  # noqa: E402, F401

__all__ = ["FEEDS", "CostItem", "Feed", "FeedError", "FeedOptions", "feed_for", "register"]
