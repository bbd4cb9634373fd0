"""NVIDIA pickles are read without running anything they carry."""

import pickle
import sys

import numpy as np
import pytest
import torch

from latentedit.devtools import random_state, write_nvidia_pickle
from latentedit.errors import WeightsError
from latentedit.files.safe_pickle import read_network_pickle
from latentedit.models.generators import load_generator
from latentedit.models.generators.stylegan2 import StyleGAN2Generator

from hostile import SMALL_STYLEGAN2 as SMALL
from hostile import SystemCall


class OpenFile:
    """Unpickling this would create ``path`` through ``builtins.open``."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return open, (self.path, "w")


def small_generator() -> StyleGAN2Generator:
    generator = StyleGAN2Generator.from_config("small", SMALL)
    generator.load_state_dict(random_state(generator.state_dict(), 0))
    return generator


@pytest.mark.parametrize("payload", ["system", "open"])
def test_pickle_that_runs_code_is_refused_and_nothing_runs(tmp_path, payload):
    marker = tmp_path / "pwned"
    evil = SystemCall(f"touch {marker}") if payload == "system" else OpenFile(str(marker))
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"G_ema": evil}))
    refused = r"refused to load (posix|os|nt)\.system|refused to load (builtins|io)\.open"
    with pytest.raises(WeightsError, match=refused):
        read_network_pickle(path)
    with pytest.raises(WeightsError, match="refused"):
        load_generator("stylegan2-ffhq", device="cpu", weights=path)
    assert not marker.exists()


def test_carried_source_code_is_never_executed(tmp_path):
    marker = tmp_path / "executed"
    source = f"open({str(marker)!r}, 'w').write('ran')\nraise SystemExit('module source was executed')\n"
    path = tmp_path / "network.pkl"
    generator = small_generator()
    write_nvidia_pickle(path, generator, SMALL, module_src=source)
    assert source.encode() in path.read_bytes()  # the hostile source really is in the file
    loaded, _ = load_generator("stylegan2-ffhq", device="cpu", weights=path)
    assert not marker.exists()
    assert "torch_utils" not in sys.modules and "dnnlib" not in sys.modules
    z = torch.from_numpy(loaded.sample(2, seed=0))
    with torch.inference_mode():
        torch.testing.assert_close(loaded.synthesize(z), generator.eval().synthesize(z), rtol=0, atol=1e-6)


def test_broken_and_foreign_files_give_one_line_errors(tmp_path):
    generator = small_generator()
    path = tmp_path / "network.pkl"
    write_nvidia_pickle(path, generator, SMALL)
    (tmp_path / "cut.pkl").write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(WeightsError, match="cannot read .*cut.pkl"):
        load_generator("stylegan2-ffhq", device="cpu", weights=tmp_path / "cut.pkl")
    (tmp_path / "text.pkl").write_bytes(pickle.dumps({"G_ema": np.str_("not a number")}))
    with pytest.raises(WeightsError, match="refused numpy scalar"):
        load_generator("stylegan2-ffhq", device="cpu", weights=tmp_path / "text.pkl")
    (tmp_path / "other.pkl").write_bytes(pickle.dumps({"G": 1}))
    with pytest.raises(WeightsError, match="no 'G_ema' network"):
        load_generator("stylegan2-ffhq", device="cpu", weights=tmp_path / "other.pkl")
    conditional = dict(SMALL, c_dim=10)
    write_nvidia_pickle(tmp_path / "cond.pkl", generator, conditional)
    with pytest.raises(WeightsError, match="conditional"):
        load_generator("stylegan2-ffhq", device="cpu", weights=tmp_path / "cond.pkl")


def test_plain_state_dict_is_accepted(tmp_path):
    generator = small_generator()
    torch.save(generator.state_dict(), tmp_path / "g_ema.pt")
    loaded, _ = load_generator("stylegan2-ffhq", device="cpu", weights=tmp_path / "g_ema.pt")
    assert loaded.num_ws == generator.num_ws and loaded.resolution == 16
    z = torch.from_numpy(loaded.sample(2, seed=1))
    with torch.inference_mode():
        torch.testing.assert_close(loaded.synthesize(z), generator.eval().synthesize(z), rtol=0, atol=1e-6)
