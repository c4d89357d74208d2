"""The README's main job: the weather bot on the built-in demo model, through the real loop."""

import pytest

pytest.importorskip("transformers")

from examples import weather_bot


def test_weather_bot_runs_offline_through_the_loop(capsys):
    answer = weather_bot.main([])
    out = capsys.readouterr().out
    assert '-> get_current_temperature({"location": "San Francisco"})' in out
    assert '<- get_current_temperature: {"temperature": 26.1' in out
    assert "26.1" in answer and "San Francisco" in answer


def test_weather_bot_takes_a_question(capsys):
    answer = weather_bot.main(["What's the temperature in Oslo now?"])
    out = capsys.readouterr().out
    assert '-> get_current_temperature({"location": "Oslo"})' in out
    assert "26.1" in answer
