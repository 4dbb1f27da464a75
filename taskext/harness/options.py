"""Commands as a Discord client sees them: visibility and option values."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .common import (
    _ALL_PERMISSIONS,
    _ATTACHMENT,
    _BOOLEAN,
    _CHANNEL,
    _INTEGER,
    _MENTIONABLE,
    _NUMBER,
    _ROLE,
    _STRING,
    _SUB_COMMAND,
    _SUB_COMMAND_GROUP,
    _USER,
    ADMINISTRATOR,
    JSON,
)
from .errors import CommandNotAvailable, InvalidCommandInput
from .fakes import FakeAttachment, FakeChannel, FakeGuild, FakeMember, FakeRole, FakeUser
from .world import _WorldMixin


class _OptionsMixin(_WorldMixin):
    """Find a registered command, refuse it like a client would, and type its options."""

    def find_command(self, name: str, *, guild_id: int | None = None, type: int = 1) -> JSON:
        """The registered command called ``name`` (a guild command of ``guild_id`` first).

        Raises
        ------
        CommandNotAvailable
            No such command is registered.
        """
        scopes = ([guild_id] if guild_id is not None else []) + [None]
        for scope in scopes:
            for command in self.commands.get(scope, {}).values():
                if command["name"] == name and command.get("type", 1) == type:
                    return command
        registered = sorted(c["name"] for scope in scopes for c in self.commands.get(scope, {}).values())
        raise CommandNotAvailable(f"no command {name!r} is registered here (registered: {registered})")

    def _check_visible(self, command: JSON, guild: FakeGuild | None, member: FakeMember) -> None:
        contexts = command.get("contexts")
        context = 0 if guild is not None else 1
        if contexts is not None and context not in contexts:
            where = "in a server" if guild is not None else "in DMs"
            raise CommandNotAvailable(f"/{command['name']} is not available {where} (contexts={contexts})")
        if guild is None and command.get("dm_permission") is False:
            raise CommandNotAvailable(f"/{command['name']} is not available in DMs")
        required = command.get("default_member_permissions")
        if guild is None or required is None:
            return
        have = self.member_permissions(guild, member)
        if have & ADMINISTRATOR:
            return
        needed = int(required)
        if needed == 0 or have & needed != needed:
            raise CommandNotAvailable(
                f"/{command['name']} is hidden from {member.name} (default_member_permissions={needed},"
                f" member permissions={have}); pass check_permissions=False to simulate a server override"
            )

    def _resolve_target(self, command: JSON, path: Sequence[str]) -> tuple[list[JSON], list[JSON], list[JSON]]:
        """Walk ``path`` down subcommand groups; return (top options, leaf container, leaf schema options)."""
        top: list[JSON] = []
        container = top
        schema_options: list[JSON] = list(command.get("options") or [])
        walked = [command["name"]]
        for part in path:
            sub = next(
                (o for o in schema_options if o["name"] == part and o["type"] in (_SUB_COMMAND, _SUB_COMMAND_GROUP)),
                None,
            )
            if sub is None:
                names = [o["name"] for o in schema_options if o["type"] in (_SUB_COMMAND, _SUB_COMMAND_GROUP)]
                raise CommandNotAvailable(f"/{' '.join(walked)} has no subcommand {part!r} (has: {names})")
            entry: JSON = {"name": part, "type": sub["type"], "options": []}
            container.append(entry)
            container = entry["options"]
            schema_options = list(sub.get("options") or [])
            walked.append(part)
        subs = [o["name"] for o in schema_options if o["type"] in (_SUB_COMMAND, _SUB_COMMAND_GROUP)]
        if subs:
            raise CommandNotAvailable(f"/{' '.join(walked)} needs a subcommand: one of {subs}")
        return top, container, schema_options

    def _typed_value(
        self,
        schema: JSON,
        value: Any,
        resolved: dict[str, dict[str, JSON]],
        guild: FakeGuild | None,
        permissions: int,
    ) -> Any:
        """Check ``value`` against the registered option like a client; return its JSON form.

        ``permissions`` are the invoking user's, reported for resolved channels.
        """
        name, kind = schema["name"], schema["type"]

        def bad(reason: str) -> InvalidCommandInput:
            return InvalidCommandInput(f"option {name!r}: {reason}")

        if kind in (_STRING, _INTEGER, _NUMBER):
            if kind == _STRING and not isinstance(value, str):
                raise bad(f"expected a string, got {value!r}")
            if kind == _INTEGER and (isinstance(value, bool) or not isinstance(value, int)):
                raise bad(f"expected an integer, got {value!r}")
            if kind == _NUMBER and (isinstance(value, bool) or not isinstance(value, int | float)):
                raise bad(f"expected a number, got {value!r}")
            choices = schema.get("choices") or []
            if choices and value not in [c["value"] for c in choices]:
                raise bad(f"{value!r} is not one of the choices {[c['value'] for c in choices]}")
            if kind == _STRING:
                low, high = schema.get("min_length"), schema.get("max_length")
                if (low is not None and len(value) < low) or (high is not None and len(value) > high):
                    raise bad(f"length {len(value)} is outside [{low}, {high}]")
                if len(value) > 6000:
                    raise bad("longer than 6000 characters")
            else:
                low, high = schema.get("min_value"), schema.get("max_value")
                if low is not None and value < low:
                    raise bad(f"{value!r} is below the minimum {low}")
                if high is not None and value > high:
                    raise bad(f"{value!r} is above the maximum {high}")
                if kind == _INTEGER and abs(value) > 2**53:
                    raise bad("outside Discord's integer range")
            return value
        if kind == _BOOLEAN:
            if not isinstance(value, bool):
                raise bad(f"expected a bool, got {value!r}")
            return value
        if kind in (_USER, _MENTIONABLE) and isinstance(value, FakeUser | FakeMember):
            return self._resolve_user(value, resolved, guild)
        if kind in (_ROLE, _MENTIONABLE) and isinstance(value, FakeRole):
            if guild is None or value.id not in self._roles[guild.id]:
                raise bad(f"role {value.id} is not a role of this guild")
            resolved.setdefault("roles", {})[str(value.id)] = value.to_payload()
            return str(value.id)
        if kind == _CHANNEL and isinstance(value, FakeChannel):
            types = schema.get("channel_types")
            if types and value.type not in types:
                raise bad(f"channel type {value.type} is not one of {types}")
            owner, _ = self._channels.get(value.id, (None, value))
            payload = self._channel_payload(value, owner)
            payload["permissions"] = str(permissions)
            resolved.setdefault("channels", {})[str(value.id)] = payload
            return str(value.id)
        if kind == _ATTACHMENT and isinstance(value, FakeAttachment):
            attachment_id = value.id or self._snowflake()
            resolved.setdefault("attachments", {})[str(attachment_id)] = {
                "id": str(attachment_id),
                "filename": value.filename,
                "size": len(value.data),
                "url": f"https://cdn.discordapp.com/attachments/0/{attachment_id}/{value.filename}",
                "proxy_url": f"https://media.discordapp.net/attachments/0/{attachment_id}/{value.filename}",
                "content_type": value.content_type,
                "ephemeral": True,
            }
            return str(attachment_id)
        if isinstance(value, int) and not isinstance(value, bool) and kind in (_USER, _ROLE, _CHANNEL, _MENTIONABLE):
            known: Any = None
            if kind in (_USER, _MENTIONABLE):
                known = (self._guild_members.get(guild.id, {}).get(value) if guild else None) or self._users.get(value)
            if known is None and kind in (_ROLE, _MENTIONABLE) and guild is not None:
                known = self._roles[guild.id].get(value)
            if known is None and kind == _CHANNEL and value in self._channels:
                known = self._channels[value][1]
            if known is not None:
                return self._typed_value(schema, known, resolved, guild, permissions)
            what = {_USER: "user", _ROLE: "role", _CHANNEL: "channel"}.get(kind, "user or role")
            raise bad(f"no known {what} with id {value}")
        raise bad(f"a value of type {type(value).__name__} does not fit option type {kind}")

    def _invoker_permissions(self, guild: FakeGuild | None, user: FakeUser | FakeMember) -> int:
        if guild is None:
            return _ALL_PERMISSIONS
        return self.member_permissions(guild, user if isinstance(user, FakeMember) else FakeMember(user))

    def _resolve_user(
        self, value: FakeUser | FakeMember, resolved: dict[str, dict[str, JSON]], guild: FakeGuild | None
    ) -> str:
        user = value.user if isinstance(value, FakeMember) else value
        self._remember_user(user)
        resolved.setdefault("users", {})[str(user.id)] = user.to_payload()
        if guild is not None:
            member = value if isinstance(value, FakeMember) else self._guild_members[guild.id].get(user.id)
            if member is not None:
                self._guild_members[guild.id].setdefault(member.id, member)
                payload = self.member_payload(guild, member, with_user=False)
                payload["permissions"] = str(self.member_permissions(guild, member))
                resolved.setdefault("members", {})[str(user.id)] = payload
        return str(user.id)

    def _fill_options(
        self,
        container: list[JSON],
        schema_options: list[JSON],
        given: Mapping[str, Any],
        resolved: dict[str, dict[str, JSON]],
        guild: FakeGuild | None,
        permissions: int,
        *,
        focused: str | None = None,
    ) -> None:
        known = {o["name"] for o in schema_options}
        unknown = sorted(set(given) - known - ({focused} if focused else set()))
        if unknown:
            raise InvalidCommandInput(f"unknown option(s) {unknown}; the command has {sorted(known)}")
        for schema in schema_options:
            name = schema["name"]
            if name == focused:
                if not schema.get("autocomplete"):
                    raise InvalidCommandInput(f"option {name!r} has no autocomplete")
                container.append({"name": name, "type": schema["type"], "value": str(given[name]), "focused": True})
                continue
            if name not in given:
                if schema.get("required") and focused is None:
                    raise InvalidCommandInput(f"option {name!r} is required")
                continue
            value = self._typed_value(schema, given[name], resolved, guild, permissions)
            container.append({"name": name, "type": schema["type"], "value": value})

    @staticmethod
    def _command_data(command: JSON, options: list[JSON], resolved: dict[str, dict[str, JSON]]) -> JSON:
        data: JSON = {"id": str(command["id"]), "name": command["name"], "type": command.get("type", 1)}
        if options:
            data["options"] = options
        if resolved:
            data["resolved"] = resolved
        if command.get("guild_id") is not None:
            data["guild_id"] = str(command["guild_id"])
        return data
