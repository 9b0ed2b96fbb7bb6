"""HTTP routes Mattermost calls: the slash command, checklist buttons and the declare dialog.

Each handler translates the request (translate.py), runs it through the core Router and
answers in Mattermost's JSON. Failures inside commands become replies in the Router; here
only requests that are not ours (bad token, unsigned context) are refused.
"""

from __future__ import annotations

import json
import logging
import secrets
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from bot.chat.mattermost import translate as t
from bot.chat.mattermost.chat import MattermostChat
from bot.core import messages
from bot.core.alerts import messages as alert_messages
from bot.core.alerts.intake import AlertIntake
from bot.core.commands import Acknowledge, ChangeTask, UsageError
from bot.core.ports import AlreadyHandled, StoreUnavailable
from bot.core.router import Reply, Router
from bot.core.service import Invocation

log = logging.getLogger(__name__)


class MattermostRoutes:
    def __init__(self, chat: MattermostChat, router: Router, command_token: str | None) -> None:
        self.chat = chat
        self.router = router
        self.command_token = command_token
        self.alerts: AlertIntake | None = None  # set when alert intake runs (offer buttons)
        if not command_token:
            log.warning("MATTERMOST_COMMAND_TOKEN is not set: every /incident call is refused")

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/mattermost/command", self.command, methods=["POST"]),
            Route("/mattermost/actions", self.actions, methods=["POST"]),
            Route("/mattermost/dialog", self.dialog, methods=["POST"]),
        ]

    # -- /incident ------------------------------------------------------------------------

    async def command(self, request: Request) -> Response:
        # Mattermost posts application/x-www-form-urlencoded; parsing it here spares a
        # dependency on python-multipart (which Starlette's request.form() needs).
        form = parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True)
        command = t.slash_command(dict(form))
        if not t.tokens_match(command.token, self.command_token):
            # 200, not 401: Mattermost drops the body of any other status, and the user would
            # only read that the command failed.
            log.warning(
                "mattermost: refused /incident from %s: wrong token "
                "(it does not match MATTERMOST_COMMAND_TOKEN)",
                _peer(request),
            )
            return JSONResponse(t.command_response(Reply(messages.COMMAND_TOKEN_MISMATCH)))
        self.chat.remember(command.user_id, command.user_name)
        ctx = Invocation(command.user_name, t.PLATFORM, command.channel_id)
        reply = await self.router.handle(ctx, command.text)
        if reply.open_form:
            reply = await self._open_declare_form(command.trigger_id)
        # An in-channel answer is posted as the user: it must not ping a crowd either.
        reply = replace(reply, text=await self.chat.safe(reply.text))
        return JSONResponse(t.command_response(reply))

    async def _open_declare_form(self, trigger_id: str) -> Reply:
        url = self.chat.dialog_url
        if url is None:
            return Reply(messages.FORM_NEEDS_PUBLIC_URL)
        # The state comes back with the submission: signed, so only our forms are accepted,
        # and unique, so a form submitted twice declares once.
        state = t.dialog_state(self.chat.key, secrets.token_hex(12))
        try:
            await self.chat.open_dialog(trigger_id, url, t.declare_dialog(url, state))
        except Exception:
            log.exception("opening the declare dialog failed")
            return Reply(messages.FORM_DID_NOT_OPEN)
        return Reply("")

    # -- checklist buttons ------------------------------------------------------------------

    async def actions(self, request: Request) -> Response:
        body = await _json(request)
        if body is None:
            log.warning("mattermost: refused a button press from %s: malformed", _peer(request))
            answer = t.action_response(messages.BUTTON_NOT_RECOGNISED)
            return JSONResponse(answer, status_code=400)
        offer = t.offer_press(body, self.chat.key)
        if offer is not None and self.alerts is not None:
            return await self._declare_offer(body, offer)
        pressed = t.page_ack_press(body, self.chat.key)
        if pressed is not None:
            return await self._page_ack(body, *pressed)
        press = t.button_press(body, self.chat.key)
        if press is None:
            log.warning("mattermost: refused a button press from %s: not signed", _peer(request))
            answer = t.action_response(messages.BUTTON_NOT_RECOGNISED)
            return JSONResponse(answer, status_code=401)
        store = self.router.service.store
        incident = await store.get_incident(press.incident)
        if incident is None or incident.channel_id != press.channel_id:
            return JSONResponse(t.action_response(messages.BUTTON_INCIDENT_GONE))
        user = press.user_name or await self.chat.username(press.user_id)
        ctx = Invocation(user, t.PLATFORM, press.channel_id)
        change = ChangeTask(press.action, str(press.position))
        reply = await self.router.execute(ctx, change, inbox_key=_press_key(body))
        if not reply.text:
            return JSONResponse({})  # the same press again: handled the first time
        if reply.public and reply.text:
            await self.chat.post(press.channel_id, reply.text)
        # The pressed post becomes the new checklist, so its buttons match the tasks' states.
        incident = await store.get_incident(press.incident) or incident
        update = self.chat.checklist_post(incident, await store.tasks(incident.number))
        ephemeral = "" if reply.public else self.chat.safe_known(reply.text)
        return JSONResponse(t.action_response(ephemeral, update))

    async def _declare_offer(self, body: dict[str, Any], offer: int) -> Response:
        """An alert offer's "Declare incident" press: declare with the user who pressed."""
        assert self.alerts is not None
        key = _press_key(body)
        if key is not None:
            # Claimed before the work (the intake's steps are not one transaction): a
            # retried delivery of this press answers nothing. The answer goes only after
            # the work, so a crash before it leaves the button there to press again.
            try:
                async with self.router.service.store.transaction(key):
                    pass
            except AlreadyHandled:
                return JSONResponse({})
            except StoreUnavailable:
                return JSONResponse(t.action_response(messages.DATABASE_UNAVAILABLE))
        user = str(body.get("user_name") or "") or await self.chat.username(
            str(body.get("user_id", ""))
        )
        try:
            incident = await self.alerts.declare_offer(offer, user)
        except UsageError as error:
            return JSONResponse(t.action_response(str(error)))
        return JSONResponse(t.action_response(alert_messages.declared(incident.ref)))

    async def _page_ack(self, body: dict[str, Any], number: int, paged: str) -> Response:
        user = str(body.get("user_name") or "") or await self.chat.username(str(body["user_id"]))
        ctx = Invocation(user, t.PLATFORM, None)
        # Recorded with the press's id in the transaction that acknowledges the page, and
        # answered only after it commits: a retried delivery is handled once.
        reply = await self.router.execute(
            ctx, Acknowledge(number, paged), inbox_key=_press_key(body)
        )
        if not reply.text:
            return JSONResponse({})  # the same press again: the first answer stands
        if reply.refused:  # not the paged person: the post stays, only the presser is told
            return JSONResponse(t.action_response(self.chat.safe_known(reply.text)))
        # The direct message becomes the answer, so its button cannot be pressed again.
        answer = {"message": self.chat.safe_known(reply.text), "props": {}}
        return JSONResponse(t.action_response("", answer))

    # -- declare dialog ---------------------------------------------------------------------

    async def dialog(self, request: Request) -> Response:
        body = await _json(request)
        if body is None:
            log.warning("mattermost: refused a dialog from %s: malformed", _peer(request))
            return JSONResponse({"error": messages.FORM_DID_NOT_OPEN}, status_code=400)
        submission = t.dialog_submission(body)
        nonce = t.dialog_nonce(self.chat.key, submission.state)
        if nonce is None or submission.callback_id != t.DECLARE_CALLBACK:
            log.warning("mattermost: refused a dialog from %s: not signed", _peer(request))
            return JSONResponse({"error": messages.FORM_DID_NOT_OPEN}, status_code=401)
        if submission.cancelled:
            return JSONResponse({})
        try:
            declare = t.declare_from_dialog(submission.values)
        except t.FormError as error:
            return JSONResponse(t.dialog_errors(error))
        service = self.router.service
        if not await service.store.claim_request(f"mattermost:dialog:{nonce}", service.clock.now()):
            return JSONResponse({})  # the same form again: it was declared the first time
        user = await self.chat.username(submission.user_id)
        ctx = Invocation(user, t.PLATFORM, submission.channel_id)
        reply = await self.router.execute(ctx, declare)
        await self._answer(submission.user_id, submission.channel_id, reply)
        return JSONResponse({})

    async def _answer(self, user_id: str, channel_id: str, reply: Reply) -> None:
        """A dialog's answer, which (unlike a command's) the bot has to post itself."""
        if not reply.text:
            return
        if reply.public:
            try:
                await self.chat.post(channel_id, reply.text)
                return
            except Exception:
                # Typically a direct message between two people, where the bot cannot post:
                # the user who submitted still learns what happened.
                log.warning("cannot post the dialog's answer in %s", channel_id, exc_info=True)
        await self.chat.post_ephemeral(user_id, channel_id, reply.text)


def _press_key(body: dict[str, Any]) -> str | None:
    """The platform's id for a button press: Mattermost makes a trigger_id for each."""
    trigger = body.get("trigger_id")
    return f"mattermost:action:{trigger}" if isinstance(trigger, str) and trigger else None


def _peer(request: Request) -> str:
    return request.client.host if request.client else "?"


async def _json(request: Request) -> dict[str, Any] | None:
    try:
        body = json.loads(await request.body())
    except ValueError:
        return None
    return body if isinstance(body, dict) else None
