"""The built-in demo: a tiny offline model (the files here) and the weather tools it was trained for."""
