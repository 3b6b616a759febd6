"""The scenario generator (``python -m adaptres scenario``): seeded, per section, SPEC §8."""
import json

from adaptres.cli import main
from adaptres.problem.scenario import Scenario


def generate(tmp_path, name, *args):
    out = tmp_path / name
    assert main(["scenario", "--profile", "fast", *map(str, args), "--out", str(out)]) == 0
    return out


def test_same_seed_same_file_another_seed_another(tmp_path):
    a = generate(tmp_path, "a.json", "--devices", 6, "--requests", 4, "--seed", 3)
    b = generate(tmp_path, "b.json", "--devices", 6, "--requests", 4, "--seed", 3)
    c = generate(tmp_path, "c.json", "--devices", 6, "--requests", 4, "--seed", 4)
    assert a.read_bytes() == b.read_bytes() != c.read_bytes()
    sc = Scenario.load(a)
    assert sc.n_devices == 6 and len(sc.requests) == 4 and sc.configs[0].dropped == ()
    assert [d.name[:3] for d in sc.devices] == ["low"] * 3 + ["hig"] * 3
    rates = [sc.rate_mbps[i][k] for i in range(6) for k in range(6) if i != k]
    assert min(rates) >= 7.2 and max(rates) <= 72.2
    assert (sc.alpha, sc.beta, sc.accuracy_threshold) == (0.5, 0.5, 80.0)
    assert sc.to_dict() == json.loads(a.read_text())  # exactly the SPEC §8 fields, nothing else


def test_sections_set_weights_and_batteries(tmp_path):
    sc = Scenario.load(generate(tmp_path, "c.json", "--section", "V-C", "--devices", 4))
    assert (sc.alpha, sc.beta) == (0.7, 0.3) and [d.energy_j for d in sc.devices] == [500, 500, 800, 800]
    sc = Scenario.load(generate(tmp_path, "d.json", "--section", "V-D", "--devices", 2, "--requests", 0))
    assert (sc.alpha, sc.beta, sc.requests) == (0.0, 1.0, ())
    # the scenario solves and evaluates as it is
    path = tmp_path / "d.json"
    assert main(["solve", str(path), "--method", "relaxed", "--out", str(tmp_path / "p.json")]) == 0
    assert main(["evaluate", str(path), str(tmp_path / "p.json")]) == 0


def test_another_network_gets_the_paper_devices_scaled_and_relative_thresholds():
    """One model per scenario: the 32-px network's table comes with its own unit costs, the §V devices
    scaled so that computation and transfer take as long as the paper's at 224 px, and the paper's
    thresholds shifted by the difference of the full models."""
    import pytest

    from adaptres.experiments import profiles, sim
    from adaptres.problem import unit_costs
    from adaptres.problem.generate import paper_devices
    units, configs, meta, S = sim.inputs("fast", table="cpu")
    paper = unit_costs.load(**profiles.UNITS)
    scale = S.scale
    assert units.image_size == 32 and scale.macs == pytest.approx(units.total_macs / paper.total_macs)
    assert S.threshold_shift == pytest.approx(configs[0].accuracy - 94.73)
    small, big = paper_devices(2, scale=scale), paper_devices(2)
    for i in range(2):
        assert units.total_macs / small[i].macs_per_s == pytest.approx(paper.total_macs / big[i].macs_per_s)
        assert units.total_macs / small[i].compute_macs == pytest.approx(paper.total_macs / big[i].compute_macs)
        assert small[i].energy_j == big[i].energy_j
    assert units.input_bytes / scale.rates([[0, 30.0], [30.0, 0]])[0][1] == pytest.approx(paper.input_bytes / 30.0)
    # the 224-px table is taken as it is
    _, _, _, S224 = sim.inputs("fast")
    assert S224.scale.identity and S224.threshold_shift == 0.0
