"""amqtt with meterhub's accounts and ACL: authenticate before anything else happens.

amqtt 0.12 reads a CONNECT, then deletes (clean session) or adopts (persistent session)
the session stored under its client id, takes over a connected client with that id, and
only then looks at the authentication verdict. So an unauthenticated CONNECT with the
ingest's client id would wipe or steal ingest's queued readings and kick it off, whatever
the auth plugins say. `GuardedBroker` checks the account (and the client-id rule) right
after reading the CONNECT, answers "not authorised" and closes before touching any
session, and only then runs amqtt's own session handling.

Topic rules (`acl`) are checked on every PUBLISH, SUBSCRIBE and delivery, from the
identity found at CONNECT. Every `REVALIDATE_S` seconds the broker compares each
connected device's password hash with the registry and closes the connection of a device
whose account was rotated or revoked, so neither needs a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from amqtt.broker import Broker
from amqtt.contexts import Action
from amqtt.errors import AMQTTError, MQTTError, NoDataError
from amqtt.mqtt.protocol.broker_handler import BrokerProtocolHandler
from amqtt.session import Session

from meterhub.broker.acl import (
    SERVICE_CLIENT_PREFIX,
    Identity,
    enrol_topic,
    may_publish,
    may_receive,
    may_subscribe,
)
from meterhub.broker.registry import Registry

log = logging.getLogger("meterhub.broker")
REVALIDATE_S = 5.0


class GuardedBroker(Broker):  # type: ignore[misc]
    """An amqtt broker that admits only registry accounts and enforces the ACL."""

    def __init__(self, config: dict[str, Any], registry: Registry) -> None:
        """`registry` answers who a CONNECT is (see `meterhub.broker.registry`)."""
        super().__init__(config)
        self.registry = registry
        self._identities: dict[str, Identity] = {}
        self._revalidate: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start listening, and the periodic account check."""
        await super().start()
        self._revalidate = asyncio.create_task(self._revalidate_loop())

    async def shutdown(self) -> None:
        """Stop the account check, then the broker."""
        if self._revalidate is not None:
            self._revalidate.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._revalidate
        await super().shutdown()
        self.registry.close()

    async def _initialize_client_session(
        self, reader: Any, writer: Any, remote_address: str, remote_port: int
    ) -> tuple[BrokerProtocolHandler, Session]:
        try:
            handler, session = await BrokerProtocolHandler.init_from_connect(
                reader, writer, self.plugins_manager
            )
        except MQTTError as exc:
            await writer.close()
            raise MQTTError(exc) from exc
        except (AMQTTError, NoDataError) as exc:
            raise AMQTTError(exc) from exc
        client_id = session.client_id or ""
        identity = await asyncio.to_thread(
            self.registry.authenticate, session.username, session.password, client_id
        )
        if identity is None:
            handler.attach(session, reader, writer)
            await handler.mqtt_connack_authorize(False)
            await writer.close()
            raise AMQTTError(f"{remote_address}: not authorised")
        self._identities[client_id] = identity
        if identity.kind == "device":
            await self._clear_enrolment_answer(identity.username)
        return await self._adopt_session(handler, session)

    async def _adopt_session(
        self, handler: BrokerProtocolHandler, session: Session
    ) -> tuple[BrokerProtocolHandler, Session]:
        """MQTT 3.1.1 session state, for an authenticated client: a clean session replaces
        the stored one; otherwise the stored one carries on with the new connection's
        will, keep-alive and credentials."""
        stored = self._sessions.get(session.client_id)
        if session.clean_session:
            await self._delete_session(session.client_id)
            session.parent = 0
        elif stored is not None:
            old: Session = stored[0]
            for name in ("will_flag", "will_message", "will_topic", "will_qos", "keep_alive"):
                setattr(old, name, getattr(session, name))
            old.username, old.password = session.username, session.password
            session = old
            session.parent = 1
        else:
            session.parent = 0
        delay = self.config.get("timeout-disconnect-delay", 0)
        if session.keep_alive > 0 and isinstance(delay, int):
            session.keep_alive += delay
        return handler, session

    async def _authenticate(self, session: Session, _listener: Any) -> bool:
        # The verdict was reached in _initialize_client_session; refused clients never get here.
        return (session.client_id or "") in self._identities

    async def _topic_filtering(self, session: Session, topic: str, action: Action) -> bool:
        client_id = session.client_id or ""
        identity = self._identities.get(client_id)
        if identity is None:
            # A persistent session restored from broker-sessions.db after a restart, whose
            # client has not reconnected yet. Only the service account can have made a
            # `meterhub-` session, so ingest's keeps queueing readings; others get nothing
            # until they log in again.
            return action == Action.RECEIVE and client_id.startswith(SERVICE_CLIENT_PREFIX)
        if identity.kind == "service":
            return True
        if action == Action.PUBLISH:
            return may_publish(identity.rules, topic)
        if action == Action.SUBSCRIBE:
            return may_subscribe(identity.rules, topic)
        return may_receive(identity.rules, topic)

    async def _clear_enrolment_answer(self, username: str) -> None:
        """A meter that logs in with its own account has its credentials: remove the
        retained enrolment answer, so nobody reads them later."""
        topic = enrol_topic(username)
        if topic in self._retained_messages:
            await self.retain_message(None, topic, None)

    async def _revalidate_loop(self) -> None:
        while True:
            await asyncio.sleep(REVALIDATE_S)
            try:
                await self._revalidate_devices()
            except Exception:  # a database hiccup must not stop the broker
                log.exception("checking connected device accounts failed")

    async def _revalidate_devices(self) -> None:
        connected = {
            client_id: identity
            for client_id, identity in self._identities.items()
            if identity.kind == "device"
            and client_id in self._sessions
            and self._sessions[client_id][0].transitions.is_connected()
        }
        if not connected:
            return
        current = await asyncio.to_thread(
            self.registry.current_states, [i.username for i in connected.values()]
        )
        for client_id, identity in connected.items():
            if current.get(identity.username) != identity.account_state:
                log.warning(
                    "closing MQTT client %r: the account of %s was rotated, revoked or changed",
                    client_id,
                    identity.username,
                )
                del self._identities[client_id]
                handler = self._sessions[client_id][1]
                if handler is not None and handler.writer is not None:
                    await handler.writer.close()
