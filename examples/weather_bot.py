"""The Intern-S1 guide's weather tools as agentkit tools (the agent loop comes next)."""

import json

from agentkit import tool


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


if __name__ == "__main__":
    print(json.dumps([get_current_temperature.schema, get_temperature_date.schema], indent=2))
