"""The Intern-S1 guide's weather tools: fixed numbers, no network or file touched."""

from __future__ import annotations

from ..tools import tool

__all__ = ["QUESTION", "SYSTEM", "TOOLS", "get_current_temperature", "get_temperature_date"]

QUESTION = "Today is 2024-11-14, What's the temperature in San Francisco now? How about tomorrow?"
"""The guide's question."""
SYSTEM = "You are a helpful weather assistant."
"""The guide's system prompt."""


@tool
def get_current_temperature(location: str, unit: str = "celsius") -> dict[str, object]:
    """Get current temperature at a location.

    Args:
        location: The location to get the temperature for, in the format "City, State, Country".
        unit: The unit to return the temperature in. Defaults to "celsius". (choices: ["celsius", "fahrenheit"])

    Returns:
        the temperature, the location, and the unit in a dict
    """
    return {"temperature": 26.1, "location": location, "unit": unit}


@tool
def get_temperature_date(location: str, date: str, unit: str = "celsius") -> dict[str, object]:
    """Get temperature at a location and date.

    Args:
        location: The location to get the temperature for, in the format "City, State, Country".
        date: The date to get the temperature for, in the format "Year-Month-Day".
        unit: The unit to return the temperature in. Defaults to "celsius". (choices: ["celsius", "fahrenheit"])

    Returns:
        the temperature, the location, the date and the unit in a dict
    """
    return {"temperature": 25.9, "location": location, "date": date, "unit": unit}


TOOLS = [get_current_temperature, get_temperature_date]
"""Both tools, as ``--tools agentkit._demo.weather:TOOLS`` names them."""
