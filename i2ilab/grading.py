"""Checks for the labs' autograded tests: own work, properties with tolerances, clear messages.

A hidden test checks the property its exercise teaches, on fixed inputs, against the library's
implementation with a tolerance, so that every correct variant passes (another spelling of a
layer, another call that draws N(0, I)); each failure says which property failed, with numbers.

- :func:`own_work` gives an exercise 0 points, with a message, when the answer *is* the library's
  implementation (imported, aliased), subclasses it, or calls it: while the answer runs, the
  library's functions and the methods of its classes are replaced by trip wires.
- :func:`using` puts the library's version of *other* exercises' pieces into the notebook for
  the duration of a test, so that one mistake costs one exercise.
- :func:`assert_close`, :func:`check` fail with a message naming the property and the numbers.

All failures raise :class:`GradingError` (an ``AssertionError``), shown to the student as
feedback.
"""

import contextlib
import inspect
import types

import numpy as np

__all__ = ["GradingError", "assert_close", "check", "own_work", "using"]


class GradingError(AssertionError):
    """A property of an exercise does not hold; the message says which, with numbers."""


class _Delegated(BaseException):
    """Raised by a trip wire: an answer called the library's implementation of its exercise.

    A BaseException, so that an answer's ``except Exception`` does not swallow it.
    """


_TRIPPED = []


def _tripped(label):
    _TRIPPED.append(label)
    raise _Delegated(label)


def check(condition, message):
    """Raise :class:`GradingError` with ``message`` unless ``condition`` holds."""
    if not condition:
        raise GradingError(message)


def _array(x):
    if isinstance(x, (list, tuple)):
        return np.asarray([_array(v) for v in x])
    if hasattr(x, "numpy") or not isinstance(x, (np.ndarray, float, int, np.generic)):
        from keras import ops

        x = ops.convert_to_numpy(x)
    return np.asarray(x, dtype=np.float64)


def _brief(a):
    a = np.asarray(a)
    if a.size == 1:
        return f"{float(a.reshape(())):.6g}"
    flat = np.array2string(a.reshape(-1)[:4], precision=4, separator=", ")
    return f"array of shape {a.shape} starting {flat}"


def assert_close(got, expected, what, rtol=1e-5, atol=1e-6):
    """Fail unless ``got`` and ``expected`` have the same shape and agree within the tolerances.

    Args:
        got: the answer's value (tensor of any backend, NumPy array or number).
        expected: the reference value.
        what: the property in words, e.g. ``"cycle_loss(x, y), the mean |x - y| over all elements"``.
        rtol, atol: ``|got - expected| <= atol + rtol * |expected|`` element-wise.
    """
    got_a, want = _array(got), _array(expected)
    check(got_a.shape == want.shape, f"{what}: got shape {got_a.shape}, expected {want.shape}")
    check(
        np.all(np.isfinite(got_a)) or not np.all(np.isfinite(want)), f"{what}: got non-finite values ({_brief(got_a)})"
    )
    error = np.abs(got_a - want)
    if not np.all(error <= atol + rtol * np.abs(want)):
        worst = int(np.argmax(error - rtol * np.abs(want)))
        raise GradingError(
            f"{what}: got {_brief(got_a)}, expected {_brief(want)} (largest difference "
            f"{error.reshape(-1)[worst]:.3g} at flat index {worst}; tolerance atol {atol:g}, rtol {rtol:g})"
        )


@contextlib.contextmanager
def using(namespace, **pieces):
    """Within the block, ``namespace[name]`` is ``pieces[name]`` (e.g. the library's version of
    another exercise's function in the notebook's ``globals()``); restored afterwards, also
    when the name was undefined (an answer cell that failed to run)."""
    missing = object()
    saved = {name: namespace.get(name, missing) for name in pieces}
    namespace.update(pieces)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is missing:
                namespace.pop(name, None)
            else:
                namespace[name] = value


def _label(obj):
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', getattr(obj, '__name__', repr(obj)))}"


def _functions(obj):
    """(label, function) pairs whose code a trip wire replaces: a function, a bound method's
    function, or every function defined in a class's own body (``__init__``, ``call``, ...)."""
    if isinstance(obj, types.MethodType):
        obj = obj.__func__
    if isinstance(obj, types.FunctionType):
        return [(_label(obj), obj)]
    if isinstance(obj, type):
        found = []
        for name, value in vars(obj).items():
            fn = value.__func__ if isinstance(value, (staticmethod, classmethod)) else value
            if isinstance(fn, types.FunctionType):
                found.append((f"{_label(obj)}.{name}", fn))
        return found
    raise TypeError(f"own_work: cannot guard {obj!r} (a function, method or class is expected).")


def _parameters(fn):
    """``fn``'s parameter list as source, defaults replaced by None (Keras inspects ``__init__``)."""
    text, star_done, slash_done = [], False, False
    params = list(inspect.signature(fn).parameters.values())
    for i, p in enumerate(params):
        if p.kind is p.VAR_POSITIONAL:
            text.append(f"*{p.name}")
            star_done = True
            continue
        if p.kind is p.VAR_KEYWORD:
            text.append(f"**{p.name}")
            continue
        if p.kind is p.KEYWORD_ONLY and not star_done:
            text.append("*")
            star_done = True
        text.append(p.name if p.default is p.empty else f"{p.name}=None")
        nxt = params[i + 1] if i + 1 < len(params) else None
        if p.kind is p.POSITIONAL_ONLY and not slash_done and (nxt is None or nxt.kind is not p.POSITIONAL_ONLY):
            text.append("/")
            slash_done = True
    return ", ".join(text)


def _wire_code(fn, label):
    """A code object that calls ``_tripped(label)``, with ``fn``'s parameters and free variables."""
    free = fn.__code__.co_freevars
    lines = ["def _outer():", *(f"    {name} = None" for name in free), f"    def _wire({_parameters(fn)}):"]
    if free:
        lines.append("        (" + ", ".join(free) + ",)")
    lines += [f"        return __import__('i2ilab.grading', fromlist=['_'])._tripped({label!r})", "    return _wire"]
    scope = {}
    exec("\n".join(lines), scope)  # noqa: S102 (a fixed template; only names and a label vary)
    code = scope["_outer"]().__code__
    return code if code.co_freevars == free else None


@contextlib.contextmanager
def _trip_wires(library):
    originals = []
    try:
        for obj in library:
            for label, fn in _functions(obj):
                code = _wire_code(fn, label)
                if code is not None:
                    originals.append((fn, fn.__code__))
                    fn.__code__ = code
        yield
    finally:
        for fn, code in originals:
            fn.__code__ = code


def _fail_delegated(exercise, what):
    raise GradingError(
        f"{exercise}: your answer {what}, i2ilab's own implementation of this exercise. "
        "Write it yourself (the library's version is there to check yours): 0 points for this exercise."
    )


def own_work(exercise, answers, library, run=None):
    """Fail unless the answers are the student's own work; return ``run()``'s result.

    Args:
        exercise: the exercise's name in messages, e.g. ``"Exercise 3 (cycle_loss, identity_loss)"``.
        answers: the student's function(s) or class(es) (one object or a tuple).
        library: the library's implementation(s) of this exercise: functions, bound methods or
            classes (one object or a tuple).
        run: a function of no arguments that exercises the answers; while it runs, calling any of
            ``library`` (or constructing, or calling a method of, a library class) fails the
            exercise. Compute the reference values before or after, not inside.

    Raises:
        GradingError: an answer is a library object, is defined in ``i2ilab``, subclasses a
            library class, or (inside ``run``) calls the library's implementation.
    """
    answers = answers if isinstance(answers, tuple) else (answers,)
    library = library if isinstance(library, tuple) else (library,)
    for answer in answers:
        name = getattr(answer, "__name__", repr(answer))
        for lib in library:
            target = lib.__func__ if isinstance(lib, types.MethodType) else lib
            if answer is target:
                _fail_delegated(exercise, f"`{name}` is `{_label(target)}` itself")
            if isinstance(answer, type) and isinstance(target, type) and issubclass(answer, target):
                _fail_delegated(exercise, f"`{name}` subclasses `{_label(target)}`")
        module = getattr(answer, "__module__", None) or ""
        if module == "i2ilab" or module.startswith("i2ilab."):
            _fail_delegated(exercise, f"`{name}` is imported from `{module}`")
    if run is None:
        return None
    del _TRIPPED[:]
    try:
        with _trip_wires(library):
            result = run()
    except _Delegated as hit:
        _fail_delegated(exercise, f"calls `{hit.args[0]}`")
    if _TRIPPED:
        _fail_delegated(exercise, f"calls `{_TRIPPED[0]}`")
    return result
