"""How a configuration is resolved from a profile, a YAML file and single fields, and loaded back.

Precedence, lowest to highest: the profile (:data:`auxiliary.base.profiles.PROFILES`), a YAML file
(nested by section or flat), then single fields (a notebook's UPPER_CASE parameters, ``--set key=value``,
``--field-name``). Values are coerced to the field's type; a bad key, an unknown profile or a
malformed YAML raises :class:`auxiliary.base.config.ConfigError` (one line, exit code 2 on the command line).
Saving a config and :func:`~auxiliary.base.config.section_hash` (output folder names) are in :mod:`auxiliary.base.config`.
"""

from __future__ import annotations

import difflib
import importlib.util
import json
import math
import re
import reprlib
import stat
from dataclasses import fields, replace
from pathlib import Path
from typing import Any, get_args, get_origin

import yaml

from auxiliary.base.bounds import Bounds, field_bounds
from auxiliary.base.config import (
    ALIASES,
    CHANNELS_LAST,
    DEVICES,
    SECTIONS,
    TRACKERS,
    Config,
    ConfigError,
    all_keys,
    cli_flag,
    field_type,
)
from auxiliary.base.layout import project_root
from auxiliary.base.profiles import DEFAULT_PROFILE, PROFILES

#: How many nodes a YAML document (a config file, a ``--set`` value) may hold once its aliases are expanded: a
#: config has a few dozen; an "alias bomb" (each anchor repeating the one before) would expand to billions.
MAX_YAML_NODES = 10_000
#: Largest config file read (bytes): a config is a few hundred.
MAX_CONFIG_BYTES = 1 << 20
_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = 60
_REPR.maxlevel, _REPR.maxlist, _REPR.maxdict, _REPR.maxtuple = 2, 4, 4, 4


def short(value: Any) -> str:
    """A bounded repr of ``value`` for a one-line message: never the whole of a huge or deeply nested value."""
    text = _REPR.repr(value)
    return text if len(text) <= 100 else text[:97] + "..."


def _expanded_size(node: yaml.Node, where: str, limit: int = MAX_YAML_NODES) -> int:
    """Nodes of ``node`` counting every alias as often as it is used, without building anything: refuses a
    document above ``limit`` nodes or one that contains itself, before PyYAML constructs a value."""
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(n: yaml.Node) -> int:
        key = id(n)
        if key in sizes:
            return sizes[key]
        if key in active:
            raise ConfigError(f"{where}: a YAML alias refers to the value that contains it")
        active.add(key)
        children = ([x for pair in n.value for x in pair] if isinstance(n, yaml.MappingNode)
                    else list(n.value) if isinstance(n, yaml.SequenceNode) else [])
        total = 1
        for child in children:
            total += size(child)
            if total > limit:
                raise ConfigError(f"{where}: the YAML expands to more than {limit:,} values (aliases repeating "
                                  "aliases?): refused before reading it")
        active.discard(key)
        sizes[key] = total
        return total

    return size(node)


def safe_yaml(text: str, where: str) -> Any:
    """``yaml.safe_load`` of ``text`` with aliases bounded: the node graph is measured (:func:`_expanded_size`)
    before any value is built, so an alias bomb is one line, not a 157 MB message or a ``MemoryError``."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _expanded_size(node, where)
        return loader.construct_document(node)
    except RecursionError:  # PyYAML composes nested lists and mappings recursively: ``[[[[...]]]]`` runs out
        raise ConfigError(f"{where}: the YAML is nested too deeply (a config is two levels deep)") from None
    except ConfigError:
        raise
    except ValueError as exc:  # a scalar PyYAML recognises but cannot build: 2001-13-45, an int of 5,000 digits
        raise ConfigError(f"{where}: a value YAML cannot read ({short(str(exc))})") from None
    finally:
        loader.dispose()


def coerce(value: Any, typ: Any, key: str) -> Any:
    """Convert ``value`` (often a string from the command line or YAML) to the field type."""
    origin = get_origin(typ)
    args = get_args(typ)
    # Optional[X] / X | None
    if args and type(None) in args and origin is not tuple:
        if value is None or (isinstance(value, str) and value.strip().lower() in ("none", "null", "")):
            return None
        inner = [a for a in args if a is not type(None)]
        return coerce(value, inner[0], key)
    if typ is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, (int, float)) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.strip().lower() in ("1", "true", "yes", "on"):
            return True
        if isinstance(value, str) and value.strip().lower() in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{key}: expected true or false, got {short(value)}")
    if typ is int:
        if isinstance(value, bool):
            raise ConfigError(f"{key}: expected an integer, got {short(value)}")
        if isinstance(value, int) or (isinstance(value, str) and re.fullmatch(r"\s*[-+]?\d{1,100}\s*", value)):
            return int(value)  # exactly (through a float, 10**30 would be quoted back as another number)
        try:
            as_float = float(value)
        except (TypeError, ValueError, OverflowError):
            raise ConfigError(f"{key}: expected an integer, got {short(value)}") from None
        if not math.isfinite(as_float) or as_float != int(as_float):
            raise ConfigError(f"{key}: expected an integer, got {short(value)}")
        return int(as_float)
    if typ is float:
        if isinstance(value, bool):
            raise ConfigError(f"{key}: expected a number, got {short(value)}")
        try:
            return float(value)
        except (TypeError, ValueError, OverflowError):
            raise ConfigError(f"{key}: expected a number, got {short(value)}") from None
    if typ is str:
        if isinstance(value, (dict, list, tuple)):
            raise ConfigError(f"{key}: expected a string, got {short(value)}")
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)
    if origin is tuple:
        if isinstance(value, str):
            items: list[Any] = [v.strip() for v in value.strip("()[] ").split(",") if v.strip()]
        elif isinstance(value, (list, tuple)):
            items = list(value)
        else:
            items = [value]
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(coerce(v, args[0], key) for v in items)
        if len(items) == 1 and len(args) == 2:  # a single value fixes a (min, max) range
            items = items * 2
        if len(items) != len(args):
            raise ConfigError(f"{key}: expected {len(args)} comma-separated values, got {short(value)}")
        out = tuple(coerce(v, a, key) for v, a in zip(items, args))
        if len(out) == 2 and all(isinstance(v, (int, float)) for v in out) and out[0] > out[1]:
            raise ConfigError(f"{key}: range minimum {out[0]} is above maximum {out[1]}")
        return out
    return value  # pragma: no cover - no other field types are used


def _split_key(key: str) -> list[tuple[str, str]]:
    """Resolve a user key to the (section, field) pairs it sets. Raises ConfigError when unknown."""
    k = key.strip().replace("-", "_")
    if "." in k:
        sec, name = k.split(".", 1)
        sec = sec.lower()
        if sec not in SECTIONS:
            raise ConfigError(f"unknown config section {short(sec)} in key {short(key)} (sections: {', '.join(SECTIONS)})")
        names = {f.name for f in fields(SECTIONS[sec])}
        name = name.lower()
        if name not in names:
            raise ConfigError(f"unknown config key {short(key)}: section {sec!r} has no field {short(name)}")
        return [(sec, name)]
    name = ALIASES.get(k.lower(), k.lower())
    owners = all_keys().get(name)
    if not owners:
        close = difflib.get_close_matches(name, list(all_keys()), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(f"unknown config key {short(key)}{hint}")
    return [(sec, name) for sec in owners]


def field_label(sec: str, name: str, source: str = "override") -> str:
    """How a message names a field: its flag and key (``--max-epochs (train.max_epochs)``), after the
    source of the value unless it came from the command line (``configs/x.yaml: --max-epochs ...``)."""
    where = f"{cli_flag(name)} ({sec}.{name})"
    return where if source == "override" else f"{source}: {where}"


def check_bounds(value: Any, bounds: Bounds | None, label: str) -> Any:
    """Return a coerced ``value``, or raise ConfigError (one line naming ``label``) when it is a number, or a
    (min, max) range, outside ``bounds``. NaN and infinity are refused even without bounds."""
    numbers = value if isinstance(value, tuple) else (value,)
    numbers = tuple(v for v in numbers if isinstance(v, (int, float)) and not isinstance(v, bool))
    rule = bounds or Bounds()
    if not numbers or all(rule.allows(v) for v in numbers):
        return value
    if isinstance(value, tuple):
        which = "both ends of the range" if len(value) == 2 else "every value"
        raise ConfigError(f"{label}: {which} must be {rule.describe()}, got {short(value)}")
    raise ConfigError(f"{label} must be {rule.describe()}, got {short(value)}")


def check_combinations(cfg: Config) -> Config:
    """Return ``cfg``, or raise ConfigError for fields that are valid alone but not together."""
    d = cfg.data
    if d.val + d.test > 1 + 1e-9:
        raise ConfigError(f"{cli_flag('val')} + {cli_flag('test')} (data.val + data.test) must be at most 1 "
                          f"(the rest is the training split), got {d.val:g} + {d.test:g}")
    for sec in ("train", "eval", "sort"):
        device = str(getattr(cfg, sec).device).lower()
        if device.split(":", 1)[0] not in DEVICES:
            raise ConfigError(f"{cli_flag('device')} ({sec}.device): unknown device {short(device)} "
                              f"(choose from: {', '.join(DEVICES)})")
    if str(cfg.train.channels_last).lower() not in CHANNELS_LAST:
        raise ConfigError(f"{cli_flag('channels_last')} (train.channels_last): expected one of "
                          f"{', '.join(CHANNELS_LAST)}, got {short(cfg.train.channels_last)}")
    for tracker in cfg.track.tracking:
        if tracker not in TRACKERS:
            raise ConfigError(f"--tracking (track.tracking): unknown tracker {short(tracker)} (choose from: {', '.join(TRACKERS)})")
        if tracker != "csv" and importlib.util.find_spec(tracker) is None:
            raise ConfigError(f"--tracking {tracker} needs the {tracker} package: pip install -e '.[tracking]' "
                              "(or pip install tensorboard mlflow)")
    return cfg


def apply_overrides(cfg: Config, overrides: dict[str, Any], source: str = "override") -> Config:
    """Return ``cfg`` with ``overrides`` (bare or dotted keys) applied, values coerced to field types."""
    changes: dict[str, dict[str, Any]] = {}
    for key, value in overrides.items():
        if key.lower() == "profile":
            continue
        for sec, name in _split_key(key):
            typ = field_type(SECTIONS[sec], name)
            label = field_label(sec, name, source)
            number = coerce(value, typ, label)
            changes.setdefault(sec, {})[name] = check_bounds(number, field_bounds(SECTIONS[sec], name), label)
    new_sections = {sec: replace(getattr(cfg, sec), **vals) for sec, vals in changes.items()}
    return replace(cfg, **new_sections)


def profile_config(profile: str) -> Config:
    """The defaults with a named profile applied."""
    if profile not in PROFILES:
        raise ConfigError(f"unknown profile {short(profile)} (choose from: {', '.join(PROFILES)})")
    return apply_overrides(Config(profile=profile), PROFILES[profile], source=f"profile {profile}")


def _flatten_yaml(data: Any, path: str) -> dict[str, Any]:
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of keys to values at the top level, got {type(data).__name__}")
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if str(key).lower() in SECTIONS and value is None:  # ``train:`` with nothing under it: no override
            continue
        if str(key).lower() in SECTIONS and isinstance(value, dict):
            for k2, v2 in value.items():
                flat[f"{key}.{k2}"] = v2
        else:
            flat[str(key)] = value
    return flat


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML override file into flat keys (sections may be nested or dotted)."""
    p = Path(path)
    try:
        st = p.stat()
    except OSError:
        raise ConfigError(f"config file not found: {p}") from None
    if stat.S_ISDIR(st.st_mode):
        raise ConfigError(f"config file {p} is a folder: pass a YAML file (e.g. configs/ham10000_cpu.yaml)")
    if not stat.S_ISREG(st.st_mode):  # a FIFO would block, a device never end: never opened
        raise ConfigError(f"config file {p} is not a regular file (a device, pipe or socket): pass a YAML file")
    if st.st_size > MAX_CONFIG_BYTES:
        raise ConfigError(f"config file {p} is {st.st_size:,} bytes: a config file is at most {MAX_CONFIG_BYTES:,}")
    try:
        data = safe_yaml(p.read_text(encoding="utf-8"), str(p))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"malformed YAML in {p}{where}: {problem}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"config file {p} is not UTF-8 text") from None
    return _flatten_yaml(data, str(p))


def parse_set(items: list[str] | None) -> dict[str, Any]:
    """Parse ``--set key=value`` items (value parsed as YAML scalar/list)."""
    out: dict[str, Any] = {}
    for item in items or []:
        if "=" not in item:
            raise ConfigError(f"--set expects key=value, got {short(item)}")
        key, raw = item.split("=", 1)
        if not key.strip():
            raise ConfigError(f"--set expects key=value, got {short(item)}")
        try:
            value = safe_yaml(raw, f"--set {key.strip()}") if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        out[key.strip()] = value
    return out


def resolve(
    profile: str | None = None,
    yaml_path: str | Path | None = None,
    overrides: dict[str, Any] | None = None,
) -> Config:
    """Resolve a configuration: profile < YAML file < explicit overrides."""
    yaml_over = load_yaml(yaml_path) if yaml_path else {}
    prof = profile or yaml_over.pop("profile", None) or DEFAULT_PROFILE
    yaml_over.pop("profile", None)
    cfg = profile_config(str(prof))
    if yaml_over:
        cfg = apply_overrides(cfg, yaml_over, source=str(yaml_path))
    if overrides:
        cfg = apply_overrides(cfg, overrides, source="override")
    return check_combinations(cfg)


def notebook_overrides(namespace: dict[str, Any]) -> dict[str, Any]:
    """Pick the UPPER_CASE names of a notebook's parameters that are config keys and not None."""
    keys = all_keys()
    out: dict[str, Any] = {}
    for name, value in namespace.items():
        if not name.isupper() or name.startswith("_") or value is None:
            continue
        low = name.lower()
        if low in keys or low in ALIASES:
            out[ALIASES.get(low, low)] = value
        elif "__" in low:  # SECTION__FIELD spelling for one section only
            sec, fname = low.split("__", 1)
            if sec in SECTIONS and fname in {f.name for f in fields(SECTIONS[sec])}:
                out[f"{sec}.{fname}"] = value
    return out


def from_notebook(namespace: dict[str, Any]) -> Config:
    """Resolve the config of a notebook from its parameters cell (``PROFILE``, ``CONFIG`` and overrides).

    A relative ``CONFIG`` is looked up from the working directory (the notebook's folder), then the
    project root, so ``CONFIG = "configs/ham10000_cpu.yaml"`` works from ``notebooks/``."""
    yaml_path = namespace.get("CONFIG")
    if yaml_path and not Path(yaml_path).expanduser().is_absolute() and not Path(yaml_path).is_file():
        cand = project_root() / yaml_path
        yaml_path = cand if cand.is_file() else yaml_path
    return resolve(namespace.get("PROFILE"), yaml_path, notebook_overrides(namespace))


def from_dict(data: dict[str, Any]) -> Config:
    """Rebuild a Config from :func:`auxiliary.base.config.to_dict` output (e.g. a saved ``config.yaml``)."""
    cfg = Config(profile=str(data.get("profile", DEFAULT_PROFILE)))
    flat = {f"{sec}.{k}": v for sec in SECTIONS for k, v in (data.get(sec) or {}).items()}
    return apply_overrides(cfg, flat, source="saved config")


def load_config(path: str | Path) -> Config:
    """Load a config saved by :func:`auxiliary.base.config.save`."""
    p = Path(path)
    text = p.read_text(encoding="utf-8")
    data = json.loads(text) if p.suffix == ".json" else safe_yaml(text, str(p))
    return from_dict(data)
