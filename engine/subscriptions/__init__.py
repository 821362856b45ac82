"""Webhook subscription lifecycle as data: per-user subscribe/unsubscribe around a connection and
app-level create / list / renew, with vendor-issued secrets kept encrypted in the store."""

from __future__ import annotations

from engine.subscriptions.app import AppSubscriptionManager, CreateReport, SubscriptionInfo
from engine.subscriptions.per_user import install_user_subscriptions

__all__ = ["AppSubscriptionManager", "CreateReport", "SubscriptionInfo", "install_user_subscriptions"]
