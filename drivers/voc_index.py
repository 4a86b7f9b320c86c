"""VOC index (1..500, 100 = the average of the recent past) from SGP40 raw signals.

Written from the description of Sensirion's Gas Index Algorithm (VOC variant, version 3.2):
Sensirion application note "SGP40 VOC Index for Experts" and the constants published with the
algorithm's reference implementation (github.com/Sensirion/gas-index-algorithm, file
sensirion_gas_index_algorithm.h, BSD-3-Clause). Only the constants are taken from there; the code
below is our own and is organised differently (one small class, no fixed-point variant).

How it works: the raw signal (SRAW ticks, lower = more VOC) is normalised by a recursive
estimate of its mean and standard deviation over the last hours (learning time 12 h), mapped
through a sigmoid so that the mean reads 100 and strong events saturate at 500, and smoothed by
an adaptive low-pass filter (fast when the signal moves, slow when it is steady). The estimator
is frozen ("gated") while the index is high, for at most 3 h, so a long event does not become
the new normal. For the first 45 s (blackout) the index is 0 (not available).

Sampling interval: the reference runs at a fixed interval (1 s by default, 10 s tested). Here the
interval is passed to every `process()` call, and every filter coefficient is computed from it,
so a station that samples every few minutes keeps the same time constants in seconds/hours.
"""

import math

from micropython import const

# --- constants of the published algorithm (VOC variant) ---
_INITIAL_BLACKOUT_S = const(45)
_INDEX_GAIN = const(230.0)
_SRAW_STD_INITIAL = const(50.0)
_SRAW_STD_BONUS = const(220.0)
_TAU_MEAN_H = const(12.0)
_TAU_VARIANCE_H = const(12.0)
_TAU_INITIAL_MEAN_S = const(20.0)
_INIT_DURATION_MEAN_S = const(2700.0)
_INIT_TRANSITION_MEAN = const(0.01)
_TAU_INITIAL_VARIANCE_S = const(2500.0)
_INIT_DURATION_VARIANCE_S = const(5220.0)
_INIT_TRANSITION_VARIANCE = const(0.01)
_GATING_THRESHOLD = const(340.0)
_GATING_THRESHOLD_INITIAL = const(510.0)
_GATING_THRESHOLD_TRANSITION = const(0.09)
_GATING_MAX_DURATION_MIN = const(180.0)
_GATING_MAX_RATIO = const(0.3)
_SIGMOID_L = const(500.0)
_SIGMOID_K = const(-0.0065)
_SIGMOID_X0 = const(213.0)
_INDEX_OFFSET = const(100.0)
_LP_TAU_FAST_S = const(20.0)
_LP_TAU_SLOW_S = const(500.0)
_LP_ALPHA = const(-0.2)
_SRAW_MINIMUM = const(20000)
_GAMMA_SCALING = const(64.0)
_ADDITIONAL_GAMMA_MEAN_SCALING = const(8.0)
_FIX16_MAX = const(32767.0)
_PERSISTENCE_UPTIME_GAMMA_S = const(10800.0)  # a restored estimator counts as 3 h into learning
# derived from the above, written out so a call does not recompute them (each float operation
# allocates on a MicroPython heap)
_GATING_SPAN = const(170.0)  # _GATING_THRESHOLD_INITIAL - _GATING_THRESHOLD
_MEAN_SCALE = const(512.0)  # _ADDITIONAL_GAMMA_MEAN_SCALING * _GAMMA_SCALING
_SIGMOID_SHIFT = const(0.0)  # (_SIGMOID_L - 5 * _INDEX_OFFSET) / 4
_LP_TAU_SPAN_S = const(480.0)  # _LP_TAU_SLOW_S - _LP_TAU_FAST_S

# Index values above which the learning is gated, and how long into uptime the initial
# (fast) learning lasts, are blended with this logistic function.


def _sigmoid(x0, k, v):
    x = k * (v - x0)
    if x < -50.0:
        return 1.0
    if x > 50.0:
        return 0.0
    return 1.0 / (1.0 + math.exp(x))


class VocIndex:
    """Turns SGP40 SRAW ticks into the VOC index. `process(sraw, dt_s)` once per measurement."""

    def __init__(self):
        self.reset()

    def reset(self):
        self.uptime_s = 0.0
        self.index = 0.0
        self._sraw = 0.0  # last accepted raw value minus _SRAW_MINIMUM
        # mean/variance estimator
        self._est_ready = False
        self._mean = 0.0
        self._offset = 0.0
        self._std = _SRAW_STD_INITIAL
        self._uptime_gamma = 0.0
        self._uptime_gating = 0.0
        self._gating_min = 0.0
        # adaptive low-pass
        self._lp_ready = False
        self._x1 = self._x2 = self._x3 = 0.0
        # coefficients that depend only on the sampling interval, kept for the last dt_s
        self._dt = None
        self._k = None

    @property
    def learning(self):
        """True while the estimator is in its initial learning phase (first 45 min)."""
        return self.uptime_s <= _INITIAL_BLACKOUT_S or self._uptime_gamma < _INIT_DURATION_MEAN_S

    def states(self):
        """(mean, std) of the learned raw-signal statistics, as Sensirion's get_states: what is
        worth keeping across a reset (persisted by the station, restored with `restore`)."""
        return self._mean + self._offset, self._std

    def restore(self, mean, std):
        """Resume from `states()` taken earlier (Sensirion's set_states): the estimator starts
        3 h into its learning, so the 45-min initial learning is skipped; the 45 s blackout and
        the low-pass filter start afresh. Raises ValueError for values no estimator produces."""
        if not (-65535.0 < mean < 65535.0 and 0.0 < std < 65535.0):
            raise ValueError("VOC index: implausible state mean %r std %r" % (mean, std))
        self._est_ready = True
        self._mean = float(mean)
        self._offset = 0.0
        self._std = float(std)
        self._uptime_gamma = _PERSISTENCE_UPTIME_GAMMA_S
        self._sraw = float(mean)

    def process(self, sraw, dt_s=1.0):
        """Feed one raw value taken dt_s after the previous one; returns the index (0 = n/a)."""
        if dt_s <= 0:
            raise ValueError("VOC index: sampling interval must be > 0 s")
        if self.uptime_s <= _INITIAL_BLACKOUT_S:
            self.uptime_s += dt_s
            return 0
        self.uptime_s += dt_s
        if 0 < sraw < 65000:
            lo = _SRAW_MINIMUM + 1
            hi = _SRAW_MINIMUM + 32767
            sraw = lo if sraw < lo else (hi if sraw > hi else sraw)
            self._sraw = float(sraw - _SRAW_MINIMUM)
        # normalise with the learned statistics (the "MOX model"), then the scaled sigmoid
        z = (
            (self._sraw - (self._mean + self._offset))
            / (-(self._std + _SRAW_STD_BONUS))
            * _INDEX_GAIN
        )
        idx = self._scaled_sigmoid(z)
        idx = self._lowpass(idx, dt_s)
        self.index = 0.5 if idx < 0.5 else idx
        if self._sraw > 0.0:
            self._estimate(self._sraw, dt_s)
        return int(self.index + 0.5)

    @staticmethod
    def _scaled_sigmoid(v):
        x = _SIGMOID_K * (v - _SIGMOID_X0)
        if x < -50.0:
            return _SIGMOID_L
        if x > 50.0:
            return 0.0
        if v >= 0.0:
            return (_SIGMOID_L + _SIGMOID_SHIFT) / (1.0 + math.exp(x)) - _SIGMOID_SHIFT
        return _SIGMOID_L / (1.0 + math.exp(x))

    def _lowpass(self, v, dt):
        if not self._lp_ready:
            self._x1 = self._x2 = self._x3 = v
            self._lp_ready = True
        k = self._coefficients(dt)
        self._x1 += k[0] * (v - self._x1)
        self._x2 += k[1] * (v - self._x2)
        tau = _LP_TAU_SPAN_S * math.exp(_LP_ALPHA * abs(self._x1 - self._x2)) + _LP_TAU_FAST_S
        a3 = dt / (dt + tau)
        self._x3 += a3 * (v - self._x3)
        return self._x3

    def _estimate(self, s, dt):
        if not self._est_ready:
            self._est_ready = True
            self._offset = s
            self._mean = 0.0
            return
        if self._mean >= 100.0 or self._mean <= -100.0:
            self._offset += self._mean  # keep the running mean small (precision)
            self._mean = 0.0
        s -= self._offset
        g_mean, g_var = self._gammas(dt)
        delta = (s - self._mean) / _GAMMA_SCALING
        c = self._std + (delta if delta >= 0 else -delta)
        extra = (c / 1440.0) ** 2 if c > 1440.0 else 1.0
        self._std = math.sqrt(extra * (_GAMMA_SCALING - g_var)) * math.sqrt(
            self._std * self._std / (_GAMMA_SCALING * extra) + g_var * delta * delta / extra
        )
        self._mean += g_mean * delta / _ADDITIONAL_GAMMA_MEAN_SCALING

    def _coefficients(self, dt):
        """(low-pass a1, a2, gamma mean long, var long, mean init, var init, uptime limit) for
        this sampling interval: computed once per interval, not per call."""
        if dt != self._dt:
            dt_h = dt / 3600.0
            self._k = (
                dt / (_LP_TAU_FAST_S + dt),
                dt / (_LP_TAU_SLOW_S + dt),
                _MEAN_SCALE * dt_h / (_TAU_MEAN_H + dt_h),
                _GAMMA_SCALING * dt_h / (_TAU_VARIANCE_H + dt_h),
                _MEAN_SCALE * dt / (_TAU_INITIAL_MEAN_S + dt),
                _GAMMA_SCALING * dt / (_TAU_INITIAL_VARIANCE_S + dt),
                # the reference stops its uptime counters below the 16.16 fixed-point maximum;
                # an interval beyond it (the config allows 24 h) must still count once, or the
                # estimator would never leave its initial learning
                _FIX16_MAX - dt if dt < _FIX16_MAX - 1.0 else 1.0,
            )
            self._dt = dt
        return self._k

    def _gammas(self, dt):
        """Learning rates for this step: fast at first, gated while the index is high."""
        k = self._coefficients(dt)
        g_mean_long = k[2]
        g_var_long = k[3]
        g_mean_init = k[4]
        g_var_init = k[5]
        limit = k[6]
        if self._uptime_gamma < limit:
            self._uptime_gamma += dt
        if self._uptime_gating < limit:
            self._uptime_gating += dt
        init_m = _sigmoid(_INIT_DURATION_MEAN_S, _INIT_TRANSITION_MEAN, self._uptime_gamma)
        gamma_mean = g_mean_long + (g_mean_init - g_mean_long) * init_m
        thr_m = _GATING_THRESHOLD + _GATING_SPAN * _sigmoid(
            _INIT_DURATION_MEAN_S, _INIT_TRANSITION_MEAN, self._uptime_gating
        )
        gate_m = _sigmoid(thr_m, _GATING_THRESHOLD_TRANSITION, self.index)
        init_v = _sigmoid(_INIT_DURATION_VARIANCE_S, _INIT_TRANSITION_VARIANCE, self._uptime_gamma)
        gamma_var = g_var_long + (g_var_init - g_var_long) * (init_v - init_m)
        thr_v = _GATING_THRESHOLD + _GATING_SPAN * _sigmoid(
            _INIT_DURATION_VARIANCE_S, _INIT_TRANSITION_VARIANCE, self._uptime_gating
        )
        gate_v = _sigmoid(thr_v, _GATING_THRESHOLD_TRANSITION, self.index)
        # how long the estimator has been gated; past the maximum, learning is forced again
        self._gating_min += (
            dt / 60.0 * ((1.0 - gate_m) * (1.0 + _GATING_MAX_RATIO) - _GATING_MAX_RATIO)
        )
        if self._gating_min < 0.0:
            self._gating_min = 0.0
        if self._gating_min > _GATING_MAX_DURATION_MIN:
            self._uptime_gating = 0.0
        return gate_m * gamma_mean, gate_v * gamma_var
