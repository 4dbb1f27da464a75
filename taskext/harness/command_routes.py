"""Command registration: Discord's validation and the application command routes."""

from __future__ import annotations

import copy
import re
from collections.abc import Sequence
from typing import Any

from .common import _SUB_COMMAND, _SUB_COMMAND_GROUP, JSON
from .results import RecordedRequest, Reply
from .router import _RouterMixin

_NAME_RE = re.compile(r"^[-_'\w\u0900-\u097f\u0e00-\u0e7f]{1,32}$")


# ---------------------------------------------------------------------------------------
# Command validation (what Discord checks when commands are registered).
# ---------------------------------------------------------------------------------------


def _put_error(errors: JSON, path: Sequence[str], code: str, message: str) -> None:
    node = errors
    for key in path:
        node = node.setdefault(key, {})
    node.setdefault("_errors", []).append({"code": code, "message": message})


def _validate_name(errors: JSON, path: list[str], name: Any, *, chat_input: bool) -> None:
    if not isinstance(name, str) or not 1 <= len(name) <= 32:
        _put_error(errors, [*path, "name"], "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 32 in length.")
    elif chat_input and (not _NAME_RE.match(name) or name != name.lower()):
        _put_error(errors, [*path, "name"], "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid")


def _validate_description(errors: JSON, path: list[str], description: Any) -> None:
    if not isinstance(description, str) or not 1 <= len(description) <= 100:
        _put_error(errors, [*path, "description"], "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")


def _validate_options(errors: JSON, path: list[str], options: Any, depth: int) -> None:
    if not isinstance(options, list):
        return
    if len(options) > 25:
        _put_error(errors, [*path, "options"], "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
    seen: set[str] = set()
    optional_seen = False
    kinds = {o.get("type") in (_SUB_COMMAND, _SUB_COMMAND_GROUP) for o in options if isinstance(o, dict)}
    if len(kinds) > 1:
        _put_error(errors, [*path, "options"], "APPLICATION_COMMAND_OPTIONS_TYPE_INVALID", "Cannot mix subcommands")
    for index, option in enumerate(options):
        here = [*path, "options", str(index)]
        if not isinstance(option, dict):
            _put_error(errors, here, "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
            continue
        name = option.get("name")
        _validate_name(errors, here, name, chat_input=True)
        _validate_description(errors, here, option.get("description"))
        if name in seen:
            _put_error(errors, [*here, "name"], "APPLICATION_COMMAND_OPTION_NAME_ALREADY_EXISTS", "Duplicate name")
        seen.add(str(name))
        kind = option.get("type")
        if kind in (_SUB_COMMAND, _SUB_COMMAND_GROUP):
            if depth >= 2 or (kind == _SUB_COMMAND_GROUP and depth >= 1):
                _put_error(errors, [*here, "type"], "APPLICATION_COMMAND_OPTION_TYPE_INVALID", "Nested too deep")
            sub = option.get("options") or []
            if kind == _SUB_COMMAND_GROUP and any(o.get("type") != _SUB_COMMAND for o in sub):
                _put_error(errors, [*here, "options"], "APPLICATION_COMMAND_OPTIONS_TYPE_INVALID", "Subcommands only")
            _validate_options(errors, here, sub, depth + 1)
            continue
        if option.get("required"):
            if optional_seen:
                _put_error(
                    errors, here, "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID", "Required options must be first"
                )
        else:
            optional_seen = True
        choices = option.get("choices") or []
        if len(choices) > 25:
            _put_error(errors, [*here, "choices"], "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
        if choices and option.get("autocomplete"):
            _put_error(
                errors,
                [*here, "autocomplete"],
                "APPLICATION_COMMAND_OPTION_AUTOCOMPLETE_INVALID",
                "Autocomplete cannot be set with choices",
            )
        low, high = option.get("min_value"), option.get("max_value")
        if low is not None and high is not None and low > high:
            _put_error(errors, [*here, "min_value"], "NUMBER_TYPE_MAX", "min_value must not exceed max_value")
        low, high = option.get("min_length"), option.get("max_length")
        if low is not None and not 0 <= low <= 6000:
            _put_error(errors, [*here, "min_length"], "NUMBER_TYPE_MAX", "Must be between 0 and 6000.")
        if high is not None and not 1 <= high <= 6000:
            _put_error(errors, [*here, "max_length"], "NUMBER_TYPE_MAX", "Must be between 1 and 6000.")


def _validate_command(command: Any) -> JSON:
    """Discord's "Invalid Form Body" errors for one command payload (empty when valid)."""
    errors: JSON = {}
    if not isinstance(command, dict):
        _put_error(errors, [], "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
        return errors
    kind = command.get("type", 1)
    _validate_name(errors, [], command.get("name"), chat_input=kind == 1)
    if kind == 1:
        _validate_description(errors, [], command.get("description"))
        _validate_options(errors, [], command.get("options"), 0)
    elif command.get("description"):
        _put_error(errors, ["description"], "APPLICATION_COMMAND_CONTEXT_MENU_DESCRIPTION", "Must be empty")
    return errors


class _CommandRoutesMixin(_RouterMixin):
    """Answers to the application command routes (global and guild scopes)."""

    def _scope(self, request: RecordedRequest) -> tuple[int | None, Reply | None]:
        if request.path_params.get("application_id") != str(self.application_id):
            return None, self._error(404, 10002, "Unknown Application")
        guild_id = request.path_params.get("guild_id")
        if guild_id is None:
            return None, None
        if int(guild_id) not in self._guilds_by_id:
            return None, self._error(403, 50001, "Missing Access")
        return int(guild_id), None

    def _store_command(self, scope: int | None, payload: JSON, command_id: int | None = None) -> JSON:
        commands = self.commands.setdefault(scope, {})
        kind = payload.get("type", 1)
        if command_id is None:
            command_id = next(
                (int(c["id"]) for c in commands.values() if c["name"] == payload["name"] and c["type"] == kind),
                None,
            )
        command = copy.deepcopy(payload)
        command.update(
            id=str(command_id if command_id is not None else self._snowflake()),
            application_id=str(self.application_id),
            version=str(self._snowflake()),
            type=kind,
        )
        permissions = command.get("default_member_permissions")
        command["default_member_permissions"] = None if permissions is None else str(permissions)  # Discord's form
        command.setdefault("nsfw", False)
        if kind != 1:
            command.setdefault("description", "")
        if scope is not None:
            command["guild_id"] = str(scope)
        commands[int(command["id"])] = command
        return command

    def _list_commands(self, request: RecordedRequest) -> Any:
        scope, error = self._scope(request)
        if error is not None:
            return error
        return [copy.deepcopy(c) for c in self.commands.get(scope, {}).values()]

    def _bulk_commands(self, request: RecordedRequest) -> Any:
        scope, error = self._scope(request)
        if error is not None:
            return error
        payloads = request.json
        if not isinstance(payloads, list):
            return self._error(400, 50035, "Invalid Form Body", {"_errors": [{"code": "LIST_TYPE_CONVERT"}]})
        errors: JSON = {}
        for index, payload in enumerate(payloads):
            problems = _validate_command(payload)
            if problems:
                errors[str(index)] = problems
        names = [(p.get("type", 1), p.get("name")) for p in payloads if isinstance(p, dict)]
        for index, key in enumerate(names):
            if names.index(key) != index:
                _put_error(errors, [str(index), "name"], "APPLICATION_COMMANDS_DUPLICATE_NAME", "Duplicate name")
        if sum(1 for kind, _ in names if kind == 1) > 100:
            _put_error(errors, [], "BASE_TYPE_MAX_LENGTH", "Must be 100 or fewer in length.")
        if errors:
            return self._error(400, 50035, "Invalid Form Body", errors)
        previous = self.commands.get(scope, {})
        self.commands[scope] = {}
        stored = []
        for payload in payloads:
            kind = payload.get("type", 1)
            same = next(
                (int(c["id"]) for c in previous.values() if c["name"] == payload["name"] and c["type"] == kind), None
            )
            stored.append(copy.deepcopy(self._store_command(scope, payload, same)))
        return stored

    def _upsert_command(self, request: RecordedRequest) -> Any:
        scope, error = self._scope(request)
        if error is not None:
            return error
        problems = _validate_command(request.json)
        if problems:
            return self._error(400, 50035, "Invalid Form Body", problems)
        return copy.deepcopy(self._store_command(scope, request.json))

    def _find_command_by_id(self, request: RecordedRequest) -> tuple[int | None, JSON | None, Reply | None]:
        scope, error = self._scope(request)
        if error is not None:
            return scope, None, error
        command_id = request.path_params["command_id"]
        command = self.commands.get(scope, {}).get(int(command_id)) if command_id.isdigit() else None
        if command is None:
            return scope, None, self._error(404, 10063, "Unknown application command")
        return scope, command, None

    def _get_command(self, request: RecordedRequest) -> Any:
        _, command, error = self._find_command_by_id(request)
        return error if error is not None else copy.deepcopy(command)

    def _edit_command(self, request: RecordedRequest) -> Any:
        scope, command, error = self._find_command_by_id(request)
        if error is not None or command is None:
            return error
        merged = {**command, **(request.json or {})}
        problems = _validate_command(merged)
        if problems:
            return self._error(400, 50035, "Invalid Form Body", problems)
        return copy.deepcopy(self._store_command(scope, merged, int(command["id"])))

    def _delete_command(self, request: RecordedRequest) -> Any:
        scope, command, error = self._find_command_by_id(request)
        if error is not None or command is None:
            return error
        del self.commands[scope][int(command["id"])]
        return None
