"""Activation calibration on fixed data."""

import pytest
import torch

from nlpcompress.quant.calibration import RangeObserver, calibrate_range


def test_minmax_and_percentile():
    x = torch.cat([torch.linspace(-1, 1, 10001), torch.tensor([50.0])])
    assert calibrate_range(x, "minmax", 8, False) == (-1.0, 50.0)
    lo, hi = calibrate_range(x, "percentile", 8, True, percentile=99.0)
    assert hi == pytest.approx(0.99, abs=0.01) and lo == -hi  # the outlier is ignored


def test_mse_clips_outliers_and_beats_minmax():
    g = torch.Generator().manual_seed(0)
    x = torch.cat([torch.randn(20000, generator=g), torch.tensor([40.0])])
    lo, hi = calibrate_range(x, "mse", 4, True)
    assert hi < 40.0

    def err(lo_, hi_):
        from nlpcompress.quant.quantizers import affine_params, dequantize, qrange, quantize

        s, z = affine_params(torch.tensor(lo_), torch.tensor(hi_), 4, True)
        return float(((dequantize(quantize(x, s, z, *qrange(4, True)), s, z) - x) ** 2).mean())

    assert err(lo, hi) < err(float(x.min()), float(x.max()))


def test_observer_tracks_exact_extremes():
    obs = RangeObserver(max_samples=16)
    obs.enabled = True
    obs(torch.arange(100.0))
    obs(torch.tensor([-5.0]))
    v = obs.collected()
    assert float(v.min()) == -5.0 and float(v.max()) == 99.0
    with pytest.raises(ValueError):
        calibrate_range(v, "kl", 8, True)
