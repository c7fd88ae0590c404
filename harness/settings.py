"""Settings from flags and environment for every service's command line.

A service declares a pydantic model; `load_settings` builds the argparse flags from its fields
(`app_id` -> `--app-id`), reads `PREFIX_APP_ID` from the environment, and lets flags win over the
environment and the environment over the defaults. Invalid values fail with pydantic's message.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar, get_args, get_origin

from pydantic import BaseModel, ValidationError

S = TypeVar("S", bound=BaseModel)


def _is_bool(annotation: Any) -> bool:
    if annotation is bool:
        return True
    return get_origin(annotation) is not None and bool in get_args(annotation) and len(
        [a for a in get_args(annotation) if a is not type(None)]) == 1


def env_name(prefix: str, field: str) -> str:
    return f"{prefix}{field}".upper()


def load_settings(model: type[S], argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None,
                  env_prefix: str = "", prog: str | None = None, description: str | None = None) -> S:
    env = os.environ if env is None else env
    parser = argparse.ArgumentParser(prog=prog, description=description or model.__doc__)
    for name, info in model.model_fields.items():
        flag = "--" + name.replace("_", "-")
        help_text = (info.description or "") + f" [env {env_name(env_prefix, name)}]"
        if _is_bool(info.annotation):
            parser.add_argument(flag, dest=name, action=argparse.BooleanOptionalAction, default=None,
                                help=help_text)
        else:
            parser.add_argument(flag, dest=name, default=None, help=help_text)
    args = parser.parse_args(argv)
    values: dict[str, Any] = {}
    for name in model.model_fields:
        from_env = env.get(env_name(env_prefix, name))
        if from_env is not None:
            values[name] = from_env
        from_flag = getattr(args, name)
        if from_flag is not None:
            values[name] = from_flag
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        parser.error("; ".join(_problem(error, env_prefix) for error in exc.errors(include_url=False)))
        raise  # unreachable: parser.error exits


def _problem(error: dict[str, Any], env_prefix: str) -> str:
    """One flag's problem on one line, named as the operator typed it (pydantic's own text spans
    several lines and ends in a link)."""
    field = str(error["loc"][0]) if error["loc"] else ""
    flag = "--" + field.replace("_", "-") if field else "settings"
    message = error["msg"].removeprefix("Value error, ")
    return f"{flag} (or {env_name(env_prefix, field)}): {message} (got {error.get('input')!r})"
