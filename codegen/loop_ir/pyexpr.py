"""SymPy expressions of the loop IR as Python source (the expression half of the renderer).

Scalar math goes through NumPy's scalar functions (``np.exp``), which Numba compiles to the same
machine code as ``math.exp`` but which, run as plain Python, give inf/nan like NumPy instead of
raising. The functions of `symgrad.functions.REGISTRY` print the call their entry names
(``kernel``): stable ones (sigmoid, softplus, ...) call helpers whose definitions, in their
stable forms, are printed at the top of the generated module (`codegen.render.prelude`), as are the
NaN-propagating max/min; the printer records which helpers an expression used.
"""

from __future__ import annotations

import sympy
from sympy.printing.precedence import PRECEDENCE
from sympy.printing.pycode import PythonCodePrinter

from codegen.loop_ir.loops import Cast, CheckedIndex, FloorDiv, Load
from codegen.loop_ir.names import HELPER_POWERS, power_name
from symgrad.functions import REGISTRY, registered

# SymPy's own functions that kernels compute with NumPy's (the registry's print their own call)
NUMPY_CALLS = {
    "sqrt": "np.sqrt", "sinh": "np.sinh",
    "cosh": "np.cosh", "sin": "np.sin", "cos": "np.cos", "tan": "np.tan", "asin": "np.arcsin",
    "acos": "np.arccos", "atan": "np.arctan", "floor": "np.floor", "ceiling": "np.ceil",
    "sign": "np.sign", "atan2": "np.arctan2",
}
_CASTS = {"float64": "np.float64", "float32": "np.float32", "int64": "np.int64",
          "int32": "np.int32", "int16": "np.int16", "int8": "np.int8", "uint8": "np.uint8"}


class KernelPrinter(PythonCodePrinter):
    """Prints loop-IR expressions; ``used`` collects the helper functions referenced."""

    def __init__(self):
        super().__init__({"fully_qualified_modules": False, "strict": True})
        self.used = set()

    def _helper(self, name, args):
        self.used.add(name)
        return f"{name}({', '.join(self._print(a) for a in args)})"

    def _print_Add(self, expr, order=None):
        # positive terms first: "r1 - r0", not "-r0 + r1"
        terms = sorted(self._as_ordered_terms(expr, order=None),
                       key=lambda t: t.could_extract_minus_sign())
        text = self._print(terms[0])
        for t in terms[1:]:
            if t.could_extract_minus_sign():
                text += f" - {self.parenthesize(-t, PRECEDENCE['Add'])}"
            else:
                text += f" + {self.parenthesize(t, PRECEDENCE['Add'])}"
        return text

    def _print_Symbol(self, expr):
        return expr.name

    _print_Dummy = _print_Symbol

    def _print_Load(self, expr):
        arr, *idx = expr.args
        if not idx:
            return f"{arr.name}[()]"
        return f"{arr.name}[{', '.join(self._print(i) for i in idx)}]"

    def _print_FloorDiv(self, expr):
        a, b = expr.args
        return f"({_atom_or_paren(self._print(a))} // {_atom_or_paren(self._print(b))})"

    def _print_Mod(self, expr):
        a, b = expr.args
        return f"(({self._print(a)}) % ({self._print(b)}))"

    def _print_Cast(self, expr):
        x, dtype = expr.args
        if dtype.name == "bool":
            return f"({self._print(x)} != 0)"
        return f"{_CASTS[dtype.name]}({self._print(x)})"

    def _print_IntMin(self, expr):
        return f"min({self._print(expr.args[0])}, {self._print(expr.args[1])})"

    def _print_CheckedIndex(self, expr):
        return self._helper("checked_index", expr.args)

    def _print_Function(self, expr):
        name = type(expr).__name__
        if name in NUMPY_CALLS:
            return f"{NUMPY_CALLS[name]}({', '.join(self._print(a) for a in expr.args)})"
        if registered(expr) is not None:
            return self._print_registered(expr)
        raise NotImplementedError(f"no kernel code for the function {name}")

    def _print_registered(self, expr):
        """A function of the registry: a call of its entry's ``kernel`` (a helper or a vmath
        function, recorded as used, or a qualified NumPy function)."""
        fn = registered(expr)
        call = None if fn is None else fn.kernel
        if call is None:
            raise NotImplementedError(f"no kernel code for the function {type(expr).__name__}")
        if "." in call:
            return f"{call}({', '.join(self._print(a) for a in expr.args)})"
        return self._helper(call, expr.args)

    def _print_exp(self, expr):
        return self._helper("vexp", expr.args)

    def _print_tanh(self, expr):
        return self._helper("vtanh", expr.args)

    def _print_log(self, expr):
        if len(expr.args) != 1:
            raise NotImplementedError("log with a base")
        return self._helper("vlog", expr.args)

    def _print_Abs(self, expr):
        return f"abs({self._print(expr.args[0])})"

    def _print_Heaviside(self, expr):
        args = list(expr.args) + ([sympy.Rational(1, 2)] if len(expr.args) == 1 else [])
        return self._helper("heaviside", args)

    def _minmax(self, expr, name):
        args = list(expr.args)
        text = self._print(args[0])
        for a in args[1:]:
            self.used.add(name)
            text = f"{name}({text}, {self._print(a)})"
        return text

    def _print_Max(self, expr):
        return self._minmax(expr, "maximum")

    def _print_Min(self, expr):
        return self._minmax(expr, "minimum")

    def _print_Pow(self, expr, rational=False):
        base, e = expr.args
        if e == sympy.S.Half:
            return f"np.sqrt({self._print(base)})"
        if e == -sympy.S.Half:
            return f"(1/np.sqrt({self._print(base)}))"
        p = PRECEDENCE["Pow"]
        if e == -1:
            return f"(1/{self.parenthesize(base, p)})"
        if e.is_Integer and abs(int(e)) in HELPER_POWERS:  # products (prelude)
            power = self._helper(power_name(abs(int(e))), [base])
            return power if e > 0 else f"(1/{power})"
        if e.is_Integer and e < 0:
            return f"(1/{self.parenthesize(base, p)}**{-e})"
        if e.is_Integer:
            return f"{self.parenthesize(base, p)}**{e}"
        return f"{self.parenthesize(base, p)}**{self.parenthesize(e, p)}"

    def _print_Rational(self, expr):
        return f"({expr.p}/{expr.q})"

    def _print_Float(self, expr):
        return repr(float(expr))

    def _print_Infinity(self, expr):
        return "np.inf"

    def _print_NegativeInfinity(self, expr):
        return "-np.inf"

    def _print_NaN(self, expr):
        return "np.nan"

    _print_ComplexInfinity = _print_NaN

    def _print_Pi(self, expr):
        return "np.pi"

    def _print_Exp1(self, expr):
        return "np.e"

    def _print_BooleanTrue(self, expr):
        return "True"

    def _print_BooleanFalse(self, expr):
        return "False"

    def _print_Piecewise(self, expr):
        pairs = list(expr.args)
        if pairs[-1].cond == sympy.true:
            text = self._print(pairs[-1].expr)
            pairs = pairs[:-1]
        else:
            text = "np.nan"
        for p in reversed(pairs):
            text = f"({self._print(p.expr)} if {self._print(p.cond)} else {text})"
        return text

    def _print_floor(self, expr):
        frac = _integer_fraction(expr.args[0])
        if frac is None:
            return f"np.floor({self._print(expr.args[0])})"
        return f"({_atom_or_paren(self._print(frac[0]))} // {_atom_or_paren(self._print(frac[1]))})"

    def _print_ceiling(self, expr):
        frac = _integer_fraction(expr.args[0])
        if frac is None:
            return f"np.ceil({self._print(expr.args[0])})"
        return f"(-((-({self._print(frac[0])})) // ({self._print(frac[1])})))"

    def _print_Not(self, expr):
        return f"(not {self._print(expr.args[0])})"


def _atom_or_paren(text: str) -> str:
    return text if text.isidentifier() or text.isdigit() else f"({text})"


def _integer_fraction(e):
    """(numerator, denominator) when ``e`` is a ratio of integer expressions (a size), else None."""
    if not e.free_symbols or not all(s.is_integer for s in e.free_symbols):
        return None
    num, den = sympy.fraction(sympy.together(e))
    gens = sorted(e.free_symbols, key=str)
    try:
        coeffs = sympy.Poly(num, *gens).coeffs() + sympy.Poly(den, *gens).coeffs()
    except sympy.PolynomialError:
        return None
    return (num, den) if all(c.is_Integer for c in coeffs) else None


def _numpy_function(name):
    def method(self, expr):
        return f"{NUMPY_CALLS[name]}({', '.join(self._print(a) for a in expr.args)})"
    return method


def _unsupported(self, expr):
    raise NotImplementedError(f"no kernel code for the function {type(expr).__name__}")


# The base printer prints its known math functions as math.*: take over every one of them,
# then print each function of the registry as its entry says (erf, expm1 and log1p are known
# to the base printer too).
for _name in list(getattr(PythonCodePrinter, "_kf", {})) + list(NUMPY_CALLS):
    if _name not in ("Abs", "Max", "Min", "Heaviside", "Piecewise", "Mod", "Pow", "floor",
                     "ceiling", "exp", "tanh", "log"):
        setattr(KernelPrinter, f"_print_{_name}",
                _numpy_function(_name) if _name in NUMPY_CALLS else _unsupported)
for _name in REGISTRY:
    setattr(KernelPrinter, f"_print_{_name}", KernelPrinter._print_registered)


def print_expr(expr, printer=None) -> str:
    """Python text of one expression."""
    return (printer or KernelPrinter()).doprint(expr)


def body_supported(body) -> bool:
    """True when every function in an elementwise body has kernel code."""
    try:
        print_expr(body)
    except Exception:
        return False
    return True


__all__ = ["KernelPrinter", "print_expr", "body_supported", "Cast", "CheckedIndex", "FloorDiv",
           "Load"]
