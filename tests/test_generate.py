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
