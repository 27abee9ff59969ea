"""The thin trigger layer: each module is one area's blueprint (authenticate, parse, call, map)."""
