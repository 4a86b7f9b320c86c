"""Base for simulated chips: what a model reads from the environment, and value faults.

Value faults (set with `inject_value(kind, **params)`):
    "stuck"         - the chip keeps reporting the conditions of the moment of injection
    "offset"        - `quantity` (a Conditions field) reads `delta` higher (drift, a lying sensor)
    "force"         - `quantity` reads `value` (e.g. out of range: 150 degC)
Bus-level faults (absent, NACK, corruption, slow) are injected on the bus (sim.i2c / sim.uart).
"""

from sim.env import Conditions


class Chip:
    address = None

    def __init__(self, env):
        self.env = env
        self._stuck = None
        self._offsets = {}
        self._forced = {}
        self._view = Conditions()

    def inject_value(self, kind, quantity=None, **params):
        if kind == "stuck":
            self._stuck = self.env.at(self.env.cond.t_s).copy()
        elif kind == "offset":
            self._offsets[quantity] = params.get("delta", 0.0)
        elif kind == "force":
            self._forced[quantity] = params["value"]
        else:
            raise ValueError("unknown value fault: %s" % kind)

    def clear_values(self):
        self._stuck = None
        self._offsets.clear()
        self._forced.clear()

    def conditions(self, now_us):
        """The conditions this chip senses at virtual time now_us (value faults applied)."""
        if self._stuck is not None:
            return self._stuck
        c = self.env.at(now_us / 1000000)
        if not self._offsets and not self._forced:
            return c
        v = self._view
        for k in Conditions.__slots__:
            setattr(v, k, getattr(c, k))
        for k in self._offsets:
            setattr(v, k, getattr(v, k) + self._offsets[k])
        for k in self._forced:
            setattr(v, k, self._forced[k])
        return v
