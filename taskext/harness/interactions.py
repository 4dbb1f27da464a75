"""Interactions the way a Discord client sends them: commands, autocomplete, components, modals."""

from __future__ import annotations

import asyncio
import copy
import secrets
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .common import _ALL_PERMISSIONS, _MODAL, DEFAULT_BOT_PERMISSIONS, JSON
from .errors import HarnessError, InteractionNotAnswered, InvalidCommandInput
from .fakes import FakeChannel, FakeGuild, FakeMember, FakeUser
from .gateway import _GatewayMixin
from .lifecycle import _is_autocomplete_callback
from .options import _OptionsMixin
from .results import CapturedError, InteractionResult, _InteractionState


def _walk_components(components: Iterable[JSON]) -> Iterable[JSON]:
    for component in components:
        yield component
        yield from _walk_components(component.get("components") or [])
        for key in ("component", "accessory"):
            child = component.get(key)
            if isinstance(child, dict):
                yield from _walk_components([child])


class _InteractionsMixin(_OptionsMixin, _GatewayMixin):
    """Build INTERACTION_CREATE payloads, push them and collect what the bot answered."""

    def _new_interaction(
        self,
        interaction_type: int,
        data: JSON,
        user: FakeUser | FakeMember,
        *,
        guild: FakeGuild | None,
        channel: FakeChannel,
        locale: str | None,
    ) -> JSON:
        base_user = user.user if isinstance(user, FakeMember) else user
        interaction_id = self._snowflake()
        payload: JSON = {
            "id": str(interaction_id),
            "application_id": str(self.application_id),
            "type": interaction_type,
            "data": data,
            "channel_id": str(channel.id),
            "token": f"aW50ZXJhY3Rpb24{secrets.token_urlsafe(48)}",
            "version": 1,
            "locale": locale or base_user.locale,
            "entitlements": [],
            "attachment_size_limit": 10 * 1024 * 1024,
        }
        if guild is not None:
            member = user if isinstance(user, FakeMember) else FakeMember(user)
            member_perms = self.member_permissions(guild, member)
            member_payload = self.member_payload(guild, member)
            member_payload["permissions"] = str(member_perms)
            channel_payload = self._channel_payload(channel, guild)
            channel_payload["permissions"] = str(member_perms)
            bot_member = self._guild_members[guild.id][self.bot_user.id]
            payload.update(
                guild_id=str(guild.id),
                guild={"id": str(guild.id), "locale": guild.preferred_locale, "features": []},
                guild_locale=guild.preferred_locale,
                member=member_payload,
                channel=channel_payload,
                app_permissions=str(self.member_permissions(guild, bot_member)),
                authorizing_integration_owners={"0": str(guild.id)},
                context=0,
            )
        else:
            channel_payload = self._channel_payload(channel, None)
            channel_payload["permissions"] = str(_ALL_PERMISSIONS)
            payload.update(
                user=base_user.to_payload(),
                channel=channel_payload,
                app_permissions=str(DEFAULT_BOT_PERMISSIONS),
                authorizing_integration_owners={"0": "0"},
                context=1,
            )
        return payload

    def _where(
        self, user: FakeUser | FakeMember, guild_id: int | None, channel_id: int | None, dm: bool
    ) -> tuple[FakeGuild | None, FakeChannel]:
        if dm:
            if guild_id is not None:
                raise HarnessError("dm=True and guild_id are exclusive")
            return None, self.dm_channel(user)
        if channel_id is not None and channel_id in self._channels:
            owner, channel = self._channels[channel_id]
            if owner is None:
                return None, channel
            if guild_id is not None and owner.id != guild_id:
                raise HarnessError(f"channel {channel_id} is not in guild {guild_id}")
            return owner, channel
        if channel_id is not None:
            raise HarnessError(f"channel {channel_id} is not configured")
        guild = self.guild(guild_id)
        return guild, guild.text_channel

    async def _prepare(
        self,
        command_path: str,
        user: FakeUser | FakeMember,
        guild_id: int | None,
        channel_id: int | None,
        dm: bool,
        check_permissions: bool,
    ) -> tuple[FakeGuild | None, FakeChannel, JSON, list[str]]:
        parts = command_path.split()
        if not parts:
            raise ValueError("empty command name")
        guild, channel = self._where(user, guild_id, channel_id, dm)
        command = self.find_command(parts[0], guild_id=guild.id if guild else None)
        if check_permissions:
            member = user if isinstance(user, FakeMember) else FakeMember(user)
            self._check_visible(command, guild, member)
        if guild is not None:
            await self._announce_member(guild, user if isinstance(user, FakeMember) else FakeMember(user))
        else:
            self._remember_user(user.user if isinstance(user, FakeMember) else user)
        return guild, channel, command, parts[1:]

    async def _command_interaction(
        self,
        interaction_type: int,
        command_path: str,
        user: FakeUser | FakeMember,
        given: Mapping[str, Any],
        *,
        guild_id: int | None,
        channel_id: int | None,
        dm: bool,
        locale: str | None,
        check_permissions: bool,
        focused: str | None = None,
    ) -> JSON:
        """The INTERACTION_CREATE payload of a command used (or, with ``focused``, typed into) with ``given``."""
        guild, channel, registered, path = await self._prepare(
            command_path, user, guild_id, channel_id, dm, check_permissions
        )
        resolved: dict[str, dict[str, JSON]] = {}
        top, container, schema_options = self._resolve_target(registered, path)
        if focused is not None and focused not in {o["name"] for o in schema_options}:
            raise InvalidCommandInput(f"the command has no option {focused!r}")
        permissions = self._invoker_permissions(guild, user)
        self._fill_options(container, schema_options, given, resolved, guild, permissions, focused=focused)
        data = self._command_data(registered, top, resolved)
        return self._new_interaction(interaction_type, data, user, guild=guild, channel=channel, locale=locale)

    async def invoke(
        self,
        command: str,
        *,
        user: FakeUser | FakeMember,
        options: Mapping[str, Any] | None = None,
        guild_id: int | None = None,
        channel_id: int | None = None,
        dm: bool = False,
        locale: str | None = None,
        check_permissions: bool = True,
        expect_response: bool = True,
        timeout: float | None = None,
    ) -> InteractionResult:
        """Use a slash command like a Discord client: INTERACTION_CREATE type 2.

        Parameters
        ----------
        command:
            The command as typed, subcommands included: ``"leaderboard view"``,
            ``"admin tasks reset"``.
        user:
            Who invokes it (a :class:`FakeUser` in a guild is a member without roles).
        options:
            Option values by option name: ``str``/``int``/``float``/``bool``, or
            :class:`FakeUser`/:class:`FakeMember`/:class:`FakeRole`/:class:`FakeChannel`/
            :class:`FakeAttachment` (or their ids) for entity options.
        guild_id:
            The guild; default the only configured one (or the guild of ``channel_id``).
        channel_id:
            The channel; default the guild's first text channel.
        dm:
            Invoke in the bot's DM with ``user`` instead of a guild.
        locale:
            The user's client locale (default ``user.locale``).
        check_permissions:
            Refuse, like the client, commands hidden by ``default_member_permissions``. Pass
            ``False`` to simulate a server override in Server Settings -> Integrations.
        expect_response:
            Raise :class:`InteractionNotAnswered` when the bot sends no callback.
        timeout:
            Seconds to wait for the bot's handlers.

        Raises
        ------
        CommandNotAvailable
            Not registered, or a client would not offer it to ``user`` here.
        InvalidCommandInput
            A client would not send these options.
        InteractionNotAnswered
            ``expect_response`` and the bot did not answer.
        """
        payload = await self._command_interaction(
            2,
            command,
            user,
            options or {},
            guild_id=guild_id,
            channel_id=channel_id,
            dm=dm,
            locale=locale,
            check_permissions=check_permissions,
        )
        return await self.send_interaction(payload, expect_response=expect_response, timeout=timeout)

    async def autocomplete(
        self,
        command: str,
        *,
        user: FakeUser | FakeMember,
        focused: str,
        value: str = "",
        options: Mapping[str, Any] | None = None,
        guild_id: int | None = None,
        channel_id: int | None = None,
        dm: bool = False,
        locale: str | None = None,
        check_permissions: bool = True,
        timeout: float | None = None,
    ) -> list[JSON]:
        """Type into an autocomplete option: INTERACTION_CREATE type 4; return the bot's choices.

        Parameters
        ----------
        command:
            The command as typed, subcommands included.
        focused:
            The option being typed into (it must have autocomplete).
        value:
            What has been typed so far (always a string, as Discord sends it).
        options:
            Other options already filled in.

        Raises
        ------
        InteractionNotAnswered
            The bot sent no choices.
        """
        given = dict(options or {})
        given[focused] = value
        payload = await self._command_interaction(
            4,
            command,
            user,
            given,
            guild_id=guild_id,
            channel_id=channel_id,
            dm=dm,
            locale=locale,
            check_permissions=check_permissions,
            focused=focused,
        )
        result = await self.send_interaction(payload, expect_response=True, timeout=timeout)
        return result.choices

    def interaction_payload(
        self,
        interaction_type: int,
        data: JSON,
        *,
        user: FakeUser | FakeMember,
        guild_id: int | None = None,
        channel_id: int | None = None,
        dm: bool = False,
        locale: str | None = None,
    ) -> JSON:
        """A complete INTERACTION_CREATE payload around ``data``, for :meth:`send_interaction`.

        Parameters
        ----------
        interaction_type:
            2 command, 3 component, 4 autocomplete, 5 modal submit.
        data:
            The interaction's ``data``.
        user, guild_id, channel_id, dm, locale:
            As for :meth:`invoke`.
        """
        guild, channel = self._where(user, guild_id, channel_id, dm)
        return self._new_interaction(interaction_type, data, user, guild=guild, channel=channel, locale=locale)

    async def send_interaction(
        self, payload: JSON, *, expect_response: bool = True, timeout: float | None = None
    ) -> InteractionResult:
        """Push an INTERACTION_CREATE payload and wait until the bot's handlers are done.

        Build the payload with :meth:`interaction_payload`; members it mentions should have
        been announced (:meth:`invoke`, :meth:`send_message` and :meth:`click` do that).

        Raises
        ------
        InteractionNotAnswered
            ``expect_response`` and the bot did not answer.
        """
        loop = asyncio.get_running_loop()
        base_user = payload.get("user") or payload.get("member", {}).get("user") or {}
        state = _InteractionState(
            id=int(payload["id"]),
            token=str(payload["token"]),
            type=int(payload["type"]),
            channel_id=int(payload["channel_id"]) if payload.get("channel_id") else None,
            user=self._users.get(int(base_user.get("id", 0)), FakeUser(int(base_user.get("id", 0)))),
            created=loop.time(),
            message_id=int(payload["message"]["id"]) if payload.get("message") else None,
        )
        self._interactions[state.id] = state
        self._interactions_by_token[state.token] = state
        errors_start = len(self.errors)
        baseline = self._event_tasks()
        await self._push("INTERACTION_CREATE", copy.deepcopy(payload))
        limit = self.timeout if timeout is None else timeout
        callbacks: set[asyncio.Task[Any]] = set()
        if state.type == 4:
            callbacks = await self._wait_for_autocomplete(state, baseline, limit)
        await self.settle(timeout=limit, baseline=baseline)
        self._collect_autocomplete_errors(callbacks)
        errors = self.errors[errors_start:]
        result = InteractionResult(state, payload, errors)
        if expect_response and not result.responded:
            detail = "; ".join(f"{e.event}: {e.error!r}" for e in errors) or "no error was raised"
            raise InteractionNotAnswered(f"the bot did not answer interaction {state.id} ({detail})") from (
                errors[0].error if errors else None
            )
        return result

    async def _wait_for_autocomplete(
        self, state: _InteractionState, baseline: set[asyncio.Task[Any]], limit: float
    ) -> set[asyncio.Task[Any]]:
        """py-cord answers autocompletes from a task it does not track: wait for the answer or that task.

        Returns the autocomplete callback tasks seen (``asyncio.all_tasks`` forgets finished ones).
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit
        seen: set[asyncio.Task[Any]] = set()
        answered = asyncio.ensure_future(state.answered.wait())
        try:
            while not answered.done() and loop.time() < deadline:
                seen.update(t for t in self._event_tasks() - baseline if _is_autocomplete_callback(t))
                if seen and all(t.done() for t in seen):
                    break
                # Look again for the callback task every few milliseconds until it exists.
                await asyncio.wait({answered, *seen}, timeout=0.005, return_when=asyncio.FIRST_COMPLETED)
        finally:
            answered.cancel()
            await asyncio.gather(answered, return_exceptions=True)
        return seen

    async def click(
        self,
        message: InteractionResult | JSON,
        custom_id: str,
        *,
        user: FakeUser | FakeMember,
        values: Sequence[str] | None = None,
        locale: str | None = None,
        expect_response: bool = True,
        timeout: float | None = None,
    ) -> InteractionResult:
        """Click a button or choose in a select menu of a message the bot sent (type 3 interaction).

        Parameters
        ----------
        message:
            An :class:`InteractionResult` (its original response) or a message JSON the bot sent
            (``result.followups[0]``, ``harness.channel_messages[channel_id][-1]``, ...).
        custom_id:
            The component's ``custom_id``.
        values:
            For select menus: the chosen values.

        Raises
        ------
        InvalidCommandInput
            The message has no such component, it is disabled, or the values do not fit.
        """
        payload_message = message.message if isinstance(message, InteractionResult) else message
        if payload_message is None:
            raise HarnessError("that interaction has no message to click on")
        component = next(
            (c for c in _walk_components(payload_message.get("components") or []) if c.get("custom_id") == custom_id),
            None,
        )
        if component is None:
            raise InvalidCommandInput(f"the message has no component with custom_id {custom_id!r}")
        if component.get("disabled"):
            raise InvalidCommandInput(f"component {custom_id!r} is disabled")
        kind = int(component["type"])
        data: JSON = {"custom_id": custom_id, "component_type": kind}
        if kind in (3, 5, 6, 7, 8):
            chosen = list(values or [])
            low, high = component.get("min_values", 1), component.get("max_values", 1)
            if not low <= len(chosen) <= high:
                raise InvalidCommandInput(f"select {custom_id!r} takes {low} to {high} values, got {len(chosen)}")
            offered = [o["value"] for o in component.get("options") or []]
            if kind == 3 and any(v not in offered for v in chosen):
                raise InvalidCommandInput(f"select {custom_id!r} offers {offered}, got {chosen}")
            data["values"] = chosen
        elif values is not None:
            raise InvalidCommandInput(f"component {custom_id!r} is not a select menu")
        guild, channel = self._where(user, None, int(payload_message["channel_id"]), False)
        if guild is not None:
            await self._announce_member(guild, user if isinstance(user, FakeMember) else FakeMember(user))
        payload = self._new_interaction(3, data, user, guild=guild, channel=channel, locale=locale)
        payload["message"] = copy.deepcopy(payload_message)
        return await self.send_interaction(payload, expect_response=expect_response, timeout=timeout)

    async def submit_modal(
        self,
        opened: InteractionResult,
        values: Mapping[str, str | Sequence[str]],
        *,
        user: FakeUser | FakeMember,
        locale: str | None = None,
        expect_response: bool = True,
        timeout: float | None = None,
    ) -> InteractionResult:
        """Fill in and submit the modal the bot opened (callback type 9): a type 5 interaction.

        Parameters
        ----------
        opened:
            The result whose callback opened the modal.
        values:
            Text input values (and select values) by ``custom_id``.
        user:
            Who submits it: the user the modal was shown to.

        Raises
        ------
        InvalidCommandInput
            A required input is missing, a value's length is out of bounds, or a ``custom_id``
            is not in the modal.
        """
        if opened.type != _MODAL:
            raise HarnessError(f"the bot did not open a modal (callback type {opened.type})")
        modal = opened.data
        known: set[str] = set()

        def answer(component: JSON) -> JSON:
            kind = int(component["type"])
            out: JSON = {"type": kind}
            if component.get("id") is not None:
                out["id"] = component["id"]
            if kind == 1:
                out["components"] = [answer(child) for child in component.get("components") or []]
            elif kind == 18:
                out["component"] = answer(component["component"])
            elif kind == 4:
                custom_id = str(component["custom_id"])
                known.add(custom_id)
                text = values.get(custom_id, component.get("value") or "")
                if not isinstance(text, str):
                    raise InvalidCommandInput(f"text input {custom_id!r} takes a string")
                if component.get("required", True) and not text:
                    raise InvalidCommandInput(f"text input {custom_id!r} is required")
                low, high = component.get("min_length"), component.get("max_length")
                if text and ((low is not None and len(text) < low) or (high is not None and len(text) > high)):
                    raise InvalidCommandInput(f"text input {custom_id!r}: length {len(text)} outside [{low}, {high}]")
                out.update(custom_id=custom_id, value=text)
            elif "custom_id" in component:
                custom_id = str(component["custom_id"])
                known.add(custom_id)
                chosen = values.get(custom_id, [])
                out.update(custom_id=custom_id, values=[chosen] if isinstance(chosen, str) else list(chosen))
            return out

        components = [answer(component) for component in modal.get("components") or []]
        unknown = sorted(set(values) - known)
        if unknown:
            raise InvalidCommandInput(f"the modal has no input(s) {unknown}; it has {sorted(known)}")
        channel_id = opened.interaction.get("channel_id")
        guild, channel = (
            self._where(user, None, int(channel_id), False) if channel_id else (None, self.dm_channel(user))
        )
        data = {"custom_id": modal["custom_id"], "components": components}
        payload = self._new_interaction(5, data, user, guild=guild, channel=channel, locale=locale)
        return await self.send_interaction(payload, expect_response=expect_response, timeout=timeout)

    def _collect_autocomplete_errors(self, tasks: set[asyncio.Task[Any]]) -> None:
        for task in tasks:
            if task.done() and not task.cancelled() and (error := task.exception()) is not None:
                self.errors.append(CapturedError("autocomplete", error, error))
