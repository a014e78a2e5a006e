"""Bokeh's model bookkeeping without its repeated work: the same models, the same JSON, less
server time per session and per change.

Bokeh's hot paths (3.x) redo per call what is fixed per class or per process:

- Serialising a model (every document sent, every change) asks every property for its value
  — defaults included, which Bokeh builds anew each time — and then drops those not set. The
  value is needed only to see that a required property was left unset
  (bokeh/bokeh#12565); :func:`_set_properties` checks just those, once a class knows which
  they are. A page's document and a change are serialised 4-5 times faster.
- Finding a document's models (each time one is added, each document sent) reads every
  property that may hold a model, building each default anew on the way; only those set,
  or whose default is a model, can.
- Making a model asks each of its properties whether its default is mutable (a walk through
  the property's type); the answer depends on the class only and is kept per class.
- Every read of a property left unset (each model made reads ~30) builds its default anew:
  the class's overridden defaults merged along its MRO, the default copied and validated.
  A default that is not mutable and not themed depends on the class and property only and
  is kept per both (a mutable one, a list or a model, is still built for each instance).
- Every default read and every model serialised asks for the model's theme values, which
  Bokeh looks up by raising and catching an AttributeError when there are none (nearly
  always); they are read from the instance's dictionary.

- Every model made asks Bokeh's settings (its environment, then its config files) whether
  ids are simple counters; the answer, read when the faster paths are installed, is kept.
- Every callback put on a model (Panel puts ~100 on a page) has its signature inspected, to
  catch a callback that cannot take Bokeh's arguments; the signature depends on the
  function's code, its defaults and the arguments bound to it, so a passed check is kept by
  those (a callback that fails the check is still refused, each time).
- Serialising a vectorised property (a glyph's colours, sizes, coordinates: ~10 a glyph)
  builds a new property type each time to tell a value from a column name; it depends on the
  property only and is built once per property.
- Serialising a model asks Bokeh's settings whether to include defaults, through the
  environment, for every model; the answer is read when the faster paths are installed
  (asked for, defaults are sent by Bokeh's own code).
- Validating a dict (every model made validates its two callback dicts) spells out the
  error message before knowing there is an error — a walk through the nested property type;
  a valid dict is passed without it, an invalid one gets Bokeh's own message.
- Validating a session's document (every session) lists each model's attributes with
  ``dir()`` to find its checks; which of its class's attributes are checks is found once
  per class (the same checks run, in the same order, with the same findings).

:func:`faster_bokeh` installs them all; the tests compare the JSON of every registered page
with and without them.
"""

from __future__ import annotations

import functools
import types
from collections.abc import Callable, Hashable, Sequence
from typing import Any

import bokeh
from bokeh.core.has_props import HasProps
from bokeh.core.property.container import Dict
from bokeh.core.property.dataspec import DataSpec
from bokeh.core.property.descriptors import AliasPropertyDescriptor, PropertyDescriptor
from bokeh.core.property.nothing import Nothing
from bokeh.core.property.primitive import String
from bokeh.core.property.singletons import Undefined
from bokeh.core.property.vectorization import Field, Value
from bokeh.core.property.wrappers import PropertyValueContainer
from bokeh.core.serialization import ObjectRep
from bokeh.core.types import ID
from bokeh.core.validation import check as validation_check
from bokeh.document import callbacks as document_callbacks
from bokeh.document import document as document_module
from bokeh.model import model as model_module
from bokeh.model import util as model_util
from bokeh.settings import settings
from bokeh.util import callback_manager, serialization

# Bokeh's own, put back by faster_bokeh(False)
_QUERY: Any = HasProps.query_properties_with_values
_UNSTABLE_DEFAULT: Any = PropertyDescriptor.has_unstable_default
_INSTANCE_DEFAULT: Any = PropertyDescriptor.instance_default
_VISIT: Any = model_util.visit_immediate_value_references
_THEMED: Any = HasProps.themed_values
_MAKE_ID: Any = serialization.make_id  # (what bokeh.model.model imports)
_CHECK_CALLBACK: Any = callback_manager._check_callback
_SPEC_TO_SERIALIZABLE: Any = DataSpec.to_serializable
_TO_SERIALIZABLE: Any = HasProps.to_serializable
_DICT_VALIDATE: Any = Dict.validate
_CHECK_INTEGRITY: Any = validation_check.check_integrity
_REQUIRED: dict[type, frozenset[str]] = {}  # per class: properties without a default
_HELD: dict[type, frozenset[str]] = {}  # per class: properties whose default holds a model
_UNSTABLE: dict[tuple[type, str], bool] = {}
_STABLE_DEFAULTS: dict[tuple[type, str], Any] = {}  # per class and property: its default
_CHECKED: set[Hashable] = set()  # callbacks' signature keys that passed Bokeh's check
_VALUE_TYPES: dict[int, tuple[DataSpec, Any]] = {}  # per property: its type for values
_MAY_CHECK: dict[type, tuple[str, ...]] = {}  # per class: its attributes named _check…


def faster_bokeh(on: bool = True) -> None:
    """Install (``on``) or remove the faster paths. Idempotent. Only on Bokeh 3, whose
    internals these are (Panel pins its Bokeh; another major version keeps its own)."""
    on = on and bokeh.__version__.startswith("3.")
    HasProps.query_properties_with_values = (  # type: ignore[method-assign]
        _set_properties if on else _QUERY)
    PropertyDescriptor.has_unstable_default = (  # type: ignore[method-assign]
        _has_unstable_default if on else _UNSTABLE_DEFAULT)
    PropertyDescriptor.instance_default = (  # type: ignore[method-assign]
        _instance_default if on else _INSTANCE_DEFAULT)
    model_util.visit_immediate_value_references = (
        _visit_set_references if on else _VISIT)
    HasProps.themed_values = _themed_values if on else _THEMED  # type: ignore[method-assign]
    fast_ids = on and settings.simple_ids()
    model_module.make_id = _simple_id if fast_ids else _MAKE_ID  # type: ignore[attr-defined]
    for module in (callback_manager, document_callbacks):  # (the latter imports it by name)
        module._check_callback = _check_callback if on else _CHECK_CALLBACK  # type: ignore[attr-defined]
    DataSpec.to_serializable = (  # type: ignore[method-assign]
        _spec_to_serializable if on else _SPEC_TO_SERIALIZABLE)
    without_defaults = on and not settings.serialize_include_defaults()
    HasProps.to_serializable = (  # type: ignore[method-assign]
        _to_serializable if without_defaults else _TO_SERIALIZABLE)
    Dict.validate = _dict_validate if on else _DICT_VALIDATE  # type: ignore[method-assign]
    for module in (validation_check, document_module):  # (the latter imports it by name)
        module.check_integrity = _check_integrity if on else _CHECK_INTEGRITY  # type: ignore[attr-defined]


def _signature_key(callback: Any) -> Hashable | None:
    """What a callback's signature depends on: its code, its defaults and the arguments
    bound to it; None when something else may (a callable object, a wrapped function)."""
    if isinstance(callback, functools.partial):
        inner = _signature_key(callback.func)
        return None if inner is None else (
            "partial", inner, len(callback.args), tuple(sorted(callback.keywords)))
    if isinstance(callback, types.MethodType):
        inner = _signature_key(callback.__func__)
        return None if inner is None else ("method", inner)
    if (type(callback) is types.FunctionType and "__wrapped__" not in callback.__dict__
            and "__signature__" not in callback.__dict__):
        return (callback.__code__, len(callback.__defaults__ or ()),
                tuple(sorted(callback.__kwdefaults__ or ())))
    return None


def _check_callback(callback: Callable[..., Any], fargs: Sequence[str],
                    what: str = "Callback functions") -> None:
    """Bokeh's check of a callback's signature, once per signature key that passes it."""
    key = _signature_key(callback)
    if key is not None and (key, tuple(fargs)) in _CHECKED:
        return
    _CHECK_CALLBACK(callback, fargs, what)  # raises for a callback that does not fit
    if key is not None and settings.perform_error_diagnostics():
        _CHECKED.add((key, tuple(fargs)))


def _simple_id() -> ID:
    """Bokeh's ``make_id`` when ids are simple: the same counter, without the settings."""
    with serialization._simple_id_lock:
        serialization._simple_id += 1
        return ID(f"p{serialization._simple_id}")


def _themed_values(self: HasProps) -> dict[str, Any] | None:
    """``HasProps.themed_values`` without an exception when there are none."""
    return self.__dict__.get("__themed_values__")


def _required(cls: type[HasProps]) -> frozenset[str]:
    """The properties of ``cls`` that have no default: unset, they cannot be serialised."""
    required = _REQUIRED.get(cls)
    if required is None:
        descriptors = {name: cls.lookup(name) for name in cls.properties(_with_props=True)}
        required = _REQUIRED[cls] = frozenset(
            name for name, descriptor in descriptors.items()
            if not isinstance(descriptor, AliasPropertyDescriptor)  # (never serialised)
            and not _UNSTABLE_DEFAULT(descriptor, cls)  # (reads class attributes only)
            and descriptor.class_default(cls, no_eval=True) is Undefined)
    return required


def _set_properties(self: HasProps, query, *, include_defaults: bool = True,
                    include_undefined: bool = False) -> dict[str, Any]:
    """``HasProps.query_properties_with_values`` asking only the properties it returns (and
    the required ones, which raise ``UnsetValueError`` when unset, as in Bokeh)."""
    if include_defaults:
        return _QUERY(self, query, include_defaults=True,
                               include_undefined=include_undefined)
    themed = self.themed_values()
    themed_keys = set(themed) if themed is not None else set()
    selected = self._property_values.keys() | self._unstable_default_values.keys() | themed_keys
    required = () if include_undefined else _required(type(self))
    result: dict[str, Any] = {}
    for key in self.properties(_with_props=True):  # (Bokeh's order: the JSON is the same)
        if key not in selected and key not in required:
            continue
        descriptor = self.lookup(key)
        if not query(descriptor):
            continue
        value = descriptor.get_value(self)  # an unset required property raises here
        if key not in selected:
            continue
        if (key not in themed_keys and isinstance(value, PropertyValueContainer)
                and key in self._unstable_default_values):
            continue  # an untouched default list or dict: Bokeh leaves it out
        result[key] = value
    return result


def _has_unstable_default(self: PropertyDescriptor, obj: HasProps) -> bool:
    key = (type(obj), self.name)
    unstable = _UNSTABLE.get(key)
    if unstable is None:
        unstable = _UNSTABLE[key] = _UNSTABLE_DEFAULT(self, obj)
    return unstable


def _instance_default(self: PropertyDescriptor, obj: HasProps) -> Any:
    """``PropertyDescriptor.instance_default``, kept per class and property where it can
    only be the same: the instance has no theme values and the default is not mutable (the
    same test by which Bokeh keeps a mutable default per instance)."""
    if obj.themed_values() is not None or self.has_unstable_default(obj):
        return _INSTANCE_DEFAULT(self, obj)
    key = (type(obj), self.name)
    try:
        return _STABLE_DEFAULTS[key]
    except KeyError:
        default = _STABLE_DEFAULTS[key] = _INSTANCE_DEFAULT(self, obj)
        return default


def _always_visited(cls: type[HasProps]) -> frozenset[str]:
    """The properties of ``cls`` that may hold a model whatever was set: the required ones
    (read, an unset one raises as in Bokeh) and those whose default holds a model."""
    held = _HELD.get(cls)
    if held is None:
        found = set(_required(cls))
        for name in cls.properties_with_refs():
            descriptor = cls.lookup(name)
            if name not in found and not _UNSTABLE_DEFAULT(descriptor, cls):
                models: list = []
                model_util.visit_value_and_its_immediate_references(
                    descriptor.class_default(cls), models.append)
                if models:
                    found.add(name)
        held = _HELD[cls] = frozenset(found)
    return held


def _visit_set_references(value: Any, visitor) -> None:
    """``bokeh.model.util.visit_immediate_value_references`` reading only the properties
    that can hold a model: those set, with a mutable default, themed or always visited."""
    if not isinstance(value, HasProps):
        return model_util.visit_value_and_its_immediate_references(value, visitor)
    themed = value.themed_values() or {}
    always = _always_visited(type(value))
    for name in value.properties_with_refs():
        if (name in value._property_values or name in value._unstable_default_values
                or name in themed or name in always):
            model_util.visit_value_and_its_immediate_references(getattr(value, name), visitor)


def _spec_to_serializable(self: DataSpec, obj: HasProps, name: str, val: Any) -> Any:
    """``DataSpec.to_serializable`` with the property's type for values built once."""
    known = _VALUE_TYPES.get(id(self))
    if known is None or known[0] is not self:
        known = _VALUE_TYPES[id(self)] = (self, self.value_type.replace(String, Nothing()))
    try:
        known[1].validate(val, False)
        return Value(val)
    except ValueError:
        pass
    if isinstance(val, str):
        return Field(val)
    return val


def _to_serializable(self: HasProps, serializer) -> ObjectRep:
    """``HasProps.to_serializable`` when defaults are not sent (Bokeh's default), without
    asking the settings for each model."""
    rep = ObjectRep(type="object", name=self.__qualified_model__)
    properties = self.properties_with_values(include_defaults=False)
    attributes = {key: serializer.encode(val) for key, val in properties.items()}
    if attributes:
        rep["attributes"] = attributes
    return rep


def _dict_validate(self: Dict, value: Any, detail: bool = True) -> None:
    """``Dict.validate`` passing a valid dict without spelling out an error message."""
    if isinstance(value, dict):
        key_is_valid, value_is_valid = self.keys_type.is_valid, self.values_type.is_valid
        if all(key_is_valid(key) and value_is_valid(item) for key, item in value.items()):
            super(Dict, self).validate(value, detail)
            return
    _DICT_VALIDATE(self, value, detail)


def _check_integrity(models) -> validation_check.ValidationIssues:
    """``bokeh.core.validation.check_integrity`` without a ``dir()`` of every model: the
    names that may be checks are found once per class (and in the model's own dictionary,
    where Bokeh's ``dir()`` would find them too); each is then asked as Bokeh asks it."""
    issues = validation_check.ValidationIssues()
    for model in models:
        cls = type(model)
        names = _MAY_CHECK.get(cls)
        if names is None:
            names = _MAY_CHECK[cls] = tuple(name for name in dir(cls) if name.startswith("_check"))
        own = [name for name in vars(model) if name.startswith("_check")]
        if own:
            names = tuple(sorted(set(names).union(own)))
        validators = [check for check in (getattr(model, name) for name in names)
                      if getattr(check, "validator_type", None)]
        for check in validators:
            if check.validator_type == "error":
                issues.error.extend(check())
            else:
                issues.warning.extend(check())
    return issues
