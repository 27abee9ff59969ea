"""Local-only code: the local Functions host, Azurite launcher and stand-ins. The product never imports it."""
