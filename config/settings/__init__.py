"""Settings split by environment: base (shared), local (run command), test, production."""
