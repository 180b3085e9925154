"""Quick checks of this project's settings; yours to keep and grow.

Run with `python -m pytest tests` (seconds: no model or data is loaded). scriptgen's own
contract tests, which train a tiny twin of the model to prove that the code learns, are
not here: `scriptgen validate .` runs them.
"""

import sys
from pathlib import Path

import yaml

PROJECT_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_DIR))

import train  # noqa: E402


def test_config_yaml_gives_the_settings():
    config = yaml.safe_load((PROJECT_DIR / "config.yaml").read_text(encoding="utf-8"))
    _, _, training_args = train.parse_args([])
    assert training_args.learning_rate == float(config["learning_rate"])
    assert training_args.num_train_epochs == float(config["num_train_epochs"])


def test_a_flag_overrides_config_yaml():
    _, _, training_args = train.parse_args(["--learning_rate", "0.125"])
    assert training_args.learning_rate == 0.125
