"""Real-format webhook deliveries per vendor (body bytes + headers), the handshake requests
vendors send to a subscriber, and dataset mutations that emit the matching notification.

The signing here is written from the vendors' documentation, independently of the engine, so a
verifier that accepts these deliveries agrees with the vendors, not with itself."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import httpx2

from sandbox.state import GOOGLE_ENDPOINT_SECRET, PORTAL_SECRETS, Record, SimState


@dataclass(frozen=True)
class Delivery:
    method: str
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        return json.loads(self.body)

    async def send(self, client: httpx2.AsyncClient, url: str) -> httpx2.Response:
        return await client.request(self.method, url, content=self.body or None,
                                    headers=self.headers, params=self.params or None)

    def send_sync(self, url: str, client: httpx2.Client | None = None) -> httpx2.Response:
        if client is None:
            with httpx2.Client(timeout=10) as own:
                return self.send_sync(url, own)
        return client.request(self.method, url, content=self.body or None, headers=self.headers,
                              params=self.params or None)


def _json_bytes(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


def _hmac(key: bytes, message: bytes, algorithm: str = "sha256") -> bytes:
    return hmac.new(key, message, getattr(hashlib, algorithm)).digest()


def _json_post(body: bytes, **headers: str) -> Delivery:
    return Delivery("POST", body, {"Content-Type": "application/json", **headers})


# --- signed / authenticated event deliveries ------------------------------------------------

def whoop_event(client_secret: str, *, user_id: int, object_id: str | int, event_type: str,
                trace_id: str | None = None, timestamp_ms: int | None = None) -> Delivery:
    """base64(HMAC-SHA256(client_secret, ms_timestamp + raw_body))."""
    body = _json_bytes({"user_id": user_id, "id": object_id, "type": event_type,
                        "trace_id": trace_id or str(uuid.uuid4())})
    stamp = str(timestamp_ms if timestamp_ms is not None else int(time.time() * 1000))
    signature = base64.b64encode(_hmac(client_secret.encode(), stamp.encode() + body)).decode()
    return _json_post(body, **{"X-WHOOP-Signature": signature,
                               "X-WHOOP-Signature-Timestamp": stamp})


def oura_event(client_secret: str, *, event_type: str, data_type: str, object_id: str,
               user_id: str, event_time: str | None = None, timestamp: str | None = None
               ) -> Delivery:
    """UPPER-hex(HMAC-SHA256(client_secret, x-oura-timestamp + raw_body))."""
    body = _json_bytes({"event_type": event_type, "data_type": data_type,
                        "object_id": object_id,
                        "event_time": event_time or datetime.now(UTC).isoformat(
                            timespec="seconds"), "user_id": user_id})
    stamp = timestamp if timestamp is not None else str(int(time.time()))
    signature = _hmac(client_secret.encode(), stamp.encode() + body).hex().upper()
    return _json_post(body, **{"x-oura-signature": signature, "x-oura-timestamp": stamp})


def fitbit_item(*, collection: str, date: str, owner_id: str, subscription_id: str
                ) -> dict[str, str]:
    return {"collectionType": collection, "date": date, "ownerId": owner_id,
            "ownerType": "user", "subscriptionId": subscription_id}


def fitbit_notification(client_secret: str, notifications: list[dict[str, str]]) -> Delivery:
    """A JSON array; X-Fitbit-Signature = base64(HMAC-SHA1(client_secret + "&", raw_body))."""
    body = _json_bytes(notifications)
    signature = base64.b64encode(_hmac(f"{client_secret}&".encode(), body, "sha1")).decode()
    return _json_post(body, **{"X-Fitbit-Signature": signature})


def polar_event(signature_secret_key: str, *, event: str, user_id: int, entity_id: str,
                url: str, timestamp: str | None = None) -> Delivery:
    """Polar-Webhook-Signature = hex(HMAC-SHA256(signature_secret_key, raw_body))."""
    body = _json_bytes({"event": event, "user_id": user_id, "entity_id": entity_id,
                        "timestamp": timestamp or datetime.now(UTC).isoformat(
                            timespec="seconds"), "url": url})
    signature = _hmac(signature_secret_key.encode(), body).hex()
    return _json_post(body, **{"Polar-Webhook-Signature": signature})


def google_health_notification(secret: str, *, health_user_id: str, data_type: str,
                               operation: str = "UPSERT",
                               intervals: list[tuple[str, str]] | None = None,
                               subscription_name: str = "sim-subscription",
                               version: str = "1") -> Delivery:
    """The endpoint secret is echoed in Authorization; body {"data": {...}}."""
    body = _json_bytes({"data": {
        "healthUserId": health_user_id, "operation": operation, "dataType": data_type,
        "intervals": [{"physicalTimeInterval": {"startTime": s, "endTime": e}}
                      for s, e in (intervals or [])],
        "clientProvidedSubscriptionName": subscription_name, "version": version}})
    return _json_post(body, Authorization=secret)


def garmin_push(client_id: str, summaries: dict[str, list[dict[str, Any]]]) -> Delivery:
    """Full summaries keyed by summary type; unsigned, with a garmin-client-id header."""
    return _json_post(_json_bytes(summaries), **{"garmin-client-id": client_id})


def garmin_ping(client_id: str, *, callback_base: str, summary_type: str, user_id: str,
                upload_start: int, upload_end: int, token: str | None = None) -> Delivery:
    """Items carry a callbackURL (e.g. callback_base = sim.url("garmin", "/wellness-api/rest"))."""
    query = {"uploadStartTimeInSeconds": upload_start, "uploadEndTimeInSeconds": upload_end}
    if token:
        query["token"] = token
    item = {"userId": user_id,
            "callbackURL": f"{callback_base}/{summary_type}?{urlencode(query)}"}
    return garmin_push(client_id, {summary_type: [item]})


def garmin_deregistration(client_id: str, user_id: str) -> Delivery:
    return garmin_push(client_id, {"deregistrations": [{"userId": user_id}]})


def withings_notification(*, userid: int, appli: int, startdate: int | None = None,
                          enddate: int | None = None, **extra: str | int) -> Delivery:
    """Form-urlencoded POST, unsigned."""
    fields: dict[str, Any] = {"userid": userid, "appli": appli}
    if startdate is not None:
        fields["startdate"] = startdate
    if enddate is not None:
        fields["enddate"] = enddate
    fields.update(extra)
    return Delivery("POST", urlencode(fields).encode(),
                    {"Content-Type": "application/x-www-form-urlencoded"})


def strava_event(*, object_type: str, object_id: int, aspect_type: str, owner_id: int,
                 subscription_id: int, updates: dict[str, str] | None = None,
                 event_time: int | None = None) -> Delivery:
    """Unsigned JSON event."""
    return _json_post(_json_bytes({
        "object_type": object_type, "object_id": object_id, "aspect_type": aspect_type,
        "updates": updates or {}, "owner_id": owner_id, "subscription_id": subscription_id,
        "event_time": event_time if event_time is not None else int(time.time())}))


def strava_deauthorization(*, owner_id: int, subscription_id: int) -> Delivery:
    return strava_event(object_type="athlete", object_id=owner_id, aspect_type="update",
                        owner_id=owner_id, subscription_id=subscription_id,
                        updates={"authorized": "false"})


# --- handshakes a vendor sends to the subscriber ---------------------------------------------

def oura_verification(verification_token: str, challenge: str) -> Delivery:
    """Expect 200 {"challenge": challenge} when the token matches (401 otherwise)."""
    return Delivery("GET", params={"verification_token": verification_token,
                                   "challenge": challenge})


def strava_validation(verify_token: str, challenge: str) -> Delivery:
    """Expect 200 {"hub.challenge": challenge} within 2 s."""
    return Delivery("GET", params={"hub.mode": "subscribe", "hub.challenge": challenge,
                                   "hub.verify_token": verify_token})


def fitbit_verify(code: str) -> Delivery:
    """Expect 204 for the correct code and 404 for a wrong one."""
    return Delivery("GET", params={"verify": code})


def polar_ping(timestamp: str | None = None) -> Delivery:
    """Unsigned; expect 200."""
    return _json_post(_json_bytes({"timestamp": timestamp or datetime.now(
        UTC).isoformat(timespec="seconds"), "event": "PING"}))


def google_verification(secret: str | None) -> Delivery:
    """Expect 201 with the right secret, 401/403 without it."""
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers["Authorization"] = secret
    return Delivery("POST", _json_bytes({"type": "verification"}), headers)


def withings_head() -> Delivery:
    """Expect 2xx."""
    return Delivery("HEAD")


# --- dataset mutations with their notification -----------------------------------------------

WHOOP_EVENTS = {"sleep": "sleep", "workout": "workout", "recovery": "recovery"}
FITBIT_COLLECTIONS = {"sleep": "sleep", "activities": "activities", "heart": "activities"}
POLAR_EVENTS = {"exercises": "EXERCISE", "sleep": "SLEEP", "activities": "ACTIVITY_SUMMARY",
                "continuous_heart_rate": "CONTINUOUS_HEART_RATE",
                "nightly_recharge": "SLEEP"}
WITHINGS_APPLI = {"measures": 1, "activity": 16, "workouts": 16, "sleep": 44}


def add_record(state: SimState, profile: str, resource: str, user: int | str,
               data: dict[str, Any], *, record_id: str, start: float, end: float | None = None,
               **options: Any) -> Delivery:
    record = state.add_record(profile, resource, user,
                              Record(str(record_id), start, end if end is not None else start,
                                     data))
    return notification_for(state, profile, resource, user, record, "create", **options)


def update_record(state: SimState, profile: str, resource: str, user: int | str,
                  record_id: str, changes: dict[str, Any], **options: Any) -> Delivery:
    record = state.update_record(profile, resource, user, record_id, changes)
    return notification_for(state, profile, resource, user, record, "update", **options)


def delete_record(state: SimState, profile: str, resource: str, user: int | str,
                  record_id: str, **options: Any) -> Delivery:
    record = state.delete_record(profile, resource, user, record_id)
    return notification_for(state, profile, resource, user, record, "delete", **options)


def notification_for(state: SimState, profile: str, resource: str, user: int | str,
                     record: Record, operation: str, *, subscription_id: str = "sim-sub",
                     polar_key: str | None = None, google_secret: str = GOOGLE_ENDPOINT_SECRET,
                     strava_subscription_id: int = 1, webhook_token: str | None = None,
                     coros_secret: str | None = None, suunto_secret: str | None = None) -> Delivery:
    """The notification `profile` sends when `record` of `resource` is created/updated/deleted."""
    secret = state.client(profile).client_secret
    user_key = str(user)
    day = datetime.fromtimestamp(record.start, UTC).date().isoformat()
    if profile == "whoop":
        event = WHOOP_EVENTS[resource]
        object_id: Any = record.data.get("sleep_id") if resource == "recovery" else record.id
        return whoop_event(secret, user_id=int(user_key), object_id=object_id,
                           event_type=f"{event}.{'deleted' if operation == 'delete' else 'updated'}")
    if profile == "oura":
        return oura_event(secret, event_type=operation, data_type=resource,
                          object_id=record.id, user_id=user_key)
    if profile == "fitbit":
        return fitbit_notification(secret, [fitbit_item(
            collection=FITBIT_COLLECTIONS.get(resource, resource),
            date=record.data.get("dateOfSleep") or day, owner_id=user_key,
            subscription_id=subscription_id)])
    if profile == "polar":
        key = polar_key or next((h["signature_secret_key"]
                                 for h in state.subscriptions["polar"]), secret)
        return polar_event(key, event=POLAR_EVENTS[resource], user_id=int(user_key),
                           entity_id=record.id,
                           url=f"https://www.polaraccesslink.com/v3/{resource}/{record.id}")
    if profile == "withings":
        return withings_notification(userid=int(user_key), appli=WITHINGS_APPLI[resource],
                                     startdate=int(record.start), enddate=int(record.end) + 1)
    if profile == "strava":
        return strava_event(object_type="activity", object_id=int(record.id),
                            aspect_type=operation, owner_id=int(user_key),
                            subscription_id=strava_subscription_id,
                            updates={"title": record.data.get("name", "")}
                            if operation == "update" else None)
    if profile == "garmin":
        if operation == "delete":
            raise ValueError("Garmin sends no delete notifications")
        return garmin_push(state.client("garmin").client_id, {resource: [record.data]})
    if profile == "suunto":
        if operation == "delete":
            raise ValueError("Suunto sends no deletions")
        from sandbox.vendors.suunto import notification

        body = _json_bytes(notification(user_key, resource, record))
        key = suunto_secret or PORTAL_SECRETS["SUUNTO_WEBHOOK_SECRET"]
        return _json_post(body, **{"X-HMAC-SHA256-Signature": _hmac(key.encode(), body).hex()})
    if profile == "coros":
        if operation == "delete":
            raise ValueError("COROS pushes no deletions")
        from sandbox.vendors.coros import push_body

        client = state.client("coros")
        return _json_post(_json_bytes(push_body([record.data])), client=client.client_id,
                          secret=coros_secret or client.client_secret)
    if profile == "wahoo":
        from sandbox.vendors.wahoo import workout_summary_event

        token = webhook_token or PORTAL_SECRETS["WAHOO_WEBHOOK_TOKEN"]
        return _json_post(_json_bytes(workout_summary_event(token, int(user_key), record)))
    if profile == "google_health":
        start = datetime.fromtimestamp(record.start, UTC).isoformat()
        end = datetime.fromtimestamp(record.end, UTC).isoformat()
        return google_health_notification(
            google_secret, health_user_id=user_key, data_type=resource,
            operation="DELETE" if operation == "delete" else "UPSERT", intervals=[(start, end)])
    raise ValueError(f"{profile} sends no webhooks")
